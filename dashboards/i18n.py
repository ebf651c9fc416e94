"""Dashboard wording in Bahasa Indonesia (the default, as UU 24/2009 requires) and English."""

from __future__ import annotations

from typing import Literal

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (Bahasa Indonesia, English)
    "overview": ("Citysense — Ringkasan Operasional", "Citysense — Operations overview"),
    "flood": ("Citysense — Pos Duga Air Banjir", "Citysense — Flood gauges"),
    "lights": ("Citysense — Penerangan Jalan Umum", "Citysense — Street lights"),
    "network": ("Citysense — Jaringan Desa", "Citysense — Village network"),
    "device": ("Citysense — Rincian Perangkat", "Citysense — Device detail"),
    "map": ("Peta perangkat menurut keadaan", "Devices by state"),
    "per_state": ("Jumlah perangkat per keadaan", "Devices per state"),
    "per_kind_state": ("Keadaan per jenis perangkat", "State per device kind"),
    "open_alerts": ("Peringatan terbuka", "Open alerts"),
    "level": ("Tinggi muka air per pos", "Water level per station"),
    "bands": ("Tinggi muka air terhadap batas siaga", "Water level against warning bands"),
    "rise": ("Laju kenaikan (cm/jam)", "Rate of rise (cm/h)"),
    "rain": ("Curah hujan", "Rain"),
    "stations": ("Status pos sekarang", "Stations now"),
    "lights_district": (
        "Lampu per kecamatan: nyala / padam / rusak",
        "Lights per district: on / off / failed",
    ),
    "energy": ("Energi per kecamatan", "Energy per district"),
    "power": ("Daya aktif per kecamatan", "Active power per district"),
    "energy_night": ("Energi per malam per penyulang", "Energy per night per feeder"),
    "dimming_saving": ("Penghematan peredupan", "Dimming saving"),
    "failed_lights": ("Lampu rusak", "Failed lights"),
    "latency": ("Latensi per desa", "Latency per village"),
    "loss": ("Kehilangan paket per desa", "Packet loss per village"),
    "uptime": ("Waktu aktif per desa", "Uptime per village"),
    "latest": ("Nilai terakhir", "Latest values"),
    "var_device": ("Perangkat", "Device"),
    "var_district": ("Kecamatan", "District"),
    "state_ok": ("normal", "normal"),
    "state_warning": ("siaga", "warning"),
    "state_failed": ("rusak", "failed"),
    "state_offline": ("terputus", "offline"),
    "state_no_data": ("belum ada data", "no data"),
    "level_NORMAL": ("NORMAL", "NORMAL"),
    "level_WASPADA": ("WASPADA", "WASPADA (alert)"),
    "level_SIAGA": ("SIAGA", "SIAGA (standby)"),
    "level_AWAS": ("AWAS", "AWAS (danger)"),
    "lamp_on": ("nyala", "on"),
    "lamp_off": ("padam", "off"),
    "lamp_failed": ("rusak", "failed"),
}


def t(key: str, lang: Lang) -> str:
    """The wording of ``key`` in ``lang``; unknown keys are a programming error."""
    indonesian, english = _TEXT[key]
    return indonesian if lang == "id" else english


# Table column headers: (Bahasa Indonesia, English).
_COLUMNS: dict[str, tuple[str, str]] = {
    "device_id": ("ID perangkat", "Device ID"),
    "kind": ("Jenis", "Kind"),
    "name": ("Nama", "Name"),
    "district": ("Kecamatan", "District"),
    "latitude": ("Lintang", "Latitude"),
    "longitude": ("Bujur", "Longitude"),
    "last_time": ("Data terakhir", "Last reading"),
    "state": ("Keadaan", "State"),
    "devices": ("Perangkat", "Devices"),
    "time": ("Waktu", "Time"),
    "severity": ("Tingkat", "Severity"),
    "status": ("Status", "Status"),
    "subject": ("Subjek", "Subject"),
    "message": ("Pesan", "Message"),
    "water_level": ("TMA (cm)", "Water level (cm)"),
    "level": ("Status siaga", "Warning level"),
    "waspada": ("WASPADA (cm)", "WASPADA (cm)"),
    "siaga": ("SIAGA (cm)", "SIAGA (cm)"),
    "awas": ("AWAS (cm)", "AWAS (cm)"),
    "village": ("Desa", "Village"),
    "uptime": ("Waktu aktif", "Uptime"),
    "availability": ("Ketersediaan (%)", "Availability (%)"),
    "field": ("Besaran", "Field"),
    "value": ("Nilai", "Value"),
}

# Kinds and fields in Bahasa Indonesia; English comes from the declarations in core/kinds.py,
# and a kind added later without an entry here shows its declared English wording.
KIND_ID: dict[str, str] = {
    "streetlight": "Penerangan jalan umum (PJU)",
    "flood_gauge": "Pos duga air (AWLR)",
    "network_node": "Simpul jaringan desa",
}
FIELD_ID: dict[str, str] = {
    "water_level": "Tinggi muka air (TMA)",
    "rain": "Curah hujan per interval",
    "battery_v": "Tegangan baterai",
    "rssi": "Kuat sinyal seluler",
    "dim_pct": "Tingkat peredupan",
    "active_power": "Daya aktif",
    "energy": "Energi kumulatif",
    "voltage": "Tegangan",
    "current": "Arus",
    "power_factor": "Faktor daya",
    "burning_hours": "Jam nyala kumulatif",
    "driver_temp": "Suhu driver LED",
    "uptime": "Waktu sejak menyala",
    "latency": "Latensi pulang-pergi",
    "packet_loss": "Kehilangan paket",
    "rx_bps": "Throughput terima",
    "tx_bps": "Throughput kirim",
    "clients": "Klien terhubung",
    "rsrp": "Daya sinyal LTE (RSRP)",
    "rsrq": "Kualitas sinyal LTE (RSRQ)",
    "sinr": "SINR",
    "board_voltage": "Tegangan papan",
    "temperature": "Suhu boks",
}


def column(name: str, lang: Lang) -> str:
    """A table column's header; unknown columns keep their SQL name."""
    pair = _COLUMNS.get(name)
    if pair is None:
        return name
    return pair[0] if lang == "id" else pair[1]


def kind_label(name: str, english: str, lang: Lang) -> str:
    return KIND_ID.get(name, english) if lang == "id" else english


def field_label(name: str, english: str, lang: Lang) -> str:
    return FIELD_ID.get(name, english) if lang == "id" else english
