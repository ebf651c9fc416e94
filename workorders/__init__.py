"""Work orders: jobs for technicians that hang off alarms and close when the alarm does."""
