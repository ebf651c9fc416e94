"""``citysense up``: the whole platform on one machine, embedded parts where none is configured.

One concern per module: where data lives (:mod:`datadir`), which ports (:mod:`ports`), the
database (:mod:`database`), the broker (:mod:`broker`), the demo fleet (:mod:`demo`) and the
orchestration that starts and stops them in order (:mod:`stack`).
"""
