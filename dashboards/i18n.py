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
