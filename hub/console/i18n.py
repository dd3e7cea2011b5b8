"""The console's words in Indonesian (the default) and English.

One catalogue in code rather than gettext files: no compile step, and a missing word shows
its key (a test checks both languages have every key)."""

from __future__ import annotations

LANGUAGES = ("id", "en")

WORDS: dict[str, tuple[str, str]] = {
    # navigation
    "network": ("Jaringan", "Network"),
    "sla": ("SLA", "SLA"),
    "reports": ("Laporan", "Reports"),
    "dead_letters": ("Pesan gagal", "Dead letters"),
    "routing": ("Perutean", "Routing"),
    "audit": ("Jejak audit", "Audit trail"),
    "log_out": ("Keluar", "Log out"),
    "log_in": ("Masuk", "Log in"),
    "user": ("Pengguna", "User"),
    "password": ("Kata sandi", "Password"),
    "or": ("atau", "or"),
    "still_reading": (
        "Konsol masih membaca keadaan hub; angka belum lengkap.",
        "The console is still reading the hub's state; figures are not complete yet.",
    ),
    "bad_login": ("Nama pengguna atau kata sandi salah.", "Wrong user name or password."),
    "too_many": (
        "Terlalu banyak percobaan masuk. Coba lagi dalam {seconds} detik.",
        "Too many login attempts. Try again in {seconds} seconds.",
    ),
    "sso_failed": (
        "Masuk melalui SSO gagal. Coba lagi atau hubungi admin.",
        "Logging in through SSO failed. Try again or ask the administrator.",
    ),
    "busy": (
        "Konsol sedang sibuk atau Kafka tidak menjawab. Coba lagi sebentar lagi.",
        "The console is busy or Kafka did not answer. Try again in a moment.",
    ),
    "bad_folder": (
        "Bukan folder aturan di bawah {root}.",
        "Not a rules folder under {root}.",
    ),
    "forbidden": ("Anda tidak berhak melihat ini.", "You may not see this."),
    "not_found": ("Tidak ditemukan.", "Not found."),
    "csrf": (
        "Formulir kedaluwarsa atau bukan dari konsol ini. Muat ulang halaman.",
        "The form expired or did not come from this console. Reload the page.",
    ),
    # network
    "processes": ("Proses hub", "Hub processes"),
    "address": ("Alamat", "Address"),
    "reachable": ("Terjangkau", "Reachable"),
    "leases": ("Lease dipegang", "Leases held"),
    "connectors": ("Konektor dan aplikasi instansi", "Connectors and agency apps"),
    "connector": ("Konektor", "Connector"),
    "side": ("Sisi", "Side"),
    "state": ("Keadaan", "State"),
    "failures": ("Gagal berturut", "Failures in a row"),
    "failing_since": ("Gagal sejak", "Failing since"),
    "last_success": ("Sukses terakhir", "Last success"),
    "app_faults": ("Gagal (aplikasi)", "Failed (app)"),
    "hub_faults": ("Gagal (hub)", "Failed (hub)"),
    "stages": ("Tahap", "Stages"),
    "stage": ("Tahap", "Stage"),
    "per_second": ("per detik", "per second"),
    "total": ("Jumlah", "Total"),
    "lag": ("Antrean belum dibaca", "Consumer lag"),
    "topic": ("Topik", "Topic"),
    "tracked": ("Laporan dilacak", "Reports tracked"),
    "waiting_replay": ("Menunggu replay", "Waiting for replay"),
    "working": ("berjalan", "working"),
    "backing off": ("menunggu ulang", "backing off"),
    # sla
    "agency": ("Instansi", "Agency"),
    "open": ("Terbuka", "Open"),
    "overdue": ("Lewat tenggat", "Overdue"),
    "verification": ("Verifikasi", "Verification"),
    "follow_up": ("Tindak lanjut", "Follow-up"),
    "completion": ("Penyelesaian", "Completion"),
    "auto_close": ("Tutup otomatis", "Auto-close"),
    "escalated": ("Eskalasi", "Escalated"),
    "nearest": ("Tenggat terdekat", "Nearest deadlines"),
    "overdue_reports": ("Laporan lewat tenggat", "Overdue reports"),
    "due": ("Tenggat", "Due"),
    "clock": ("Jam SLA", "Clock"),
    "province": ("Provinsi", "Province"),
    "regency_city": ("Kabupaten/kota", "Kabupaten/kota"),
    "ministry": ("Kementerian/lembaga", "Ministry/institution"),
    "filter": ("Saring", "Filter"),
    "all": ("Semua", "All"),
    "awaiting_designation": ("Menunggu penetapan", "Awaiting designation"),
    # reports
    "search": ("Cari", "Search"),
    "search_hint": (
        "ID hub, ID aplikasi asal, atau ID instansi",
        "Hub id, the origin app's id, or an agency id",
    ),
    "title": ("Judul", "Title"),
    "received": ("Diterima", "Received"),
    "origin": ("Asal", "Origin"),
    "source_id": ("ID asal", "Source id"),
    "kind": ("Jenis", "Kind"),
    "location": ("Lokasi", "Location"),
    "reporter": ("Pelapor", "Reporter"),
    "hidden": ("disembunyikan", "hidden"),
    "reveal": ("Buka identitas", "Reveal identity"),
    "reason": ("Alasan", "Reason"),
    "timeline": ("Riwayat", "Timeline"),
    "routed": ("Dirutekan", "Routed"),
    "status": ("Status", "Status"),
    "agencies": ("Instansi", "Agencies"),
    "role": ("Peran", "Role"),
    "none_found": ("Tidak ada laporan yang cocok.", "No report matches."),
    "body": ("Isi", "Body"),
    "rules_version": ("Versi aturan", "Rules version"),
    "assignment": ("Penetapan", "Designation"),
    "suggestion": ("Saran instansi", "Suggested agency"),
    "when": ("Waktu", "When"),
    "by": ("Oleh", "By"),
    "message": ("Pesan", "Message"),
    "done": ("selesai", "done"),
    # dead letters
    "count": ("Jumlah", "Count"),
    "waiting": ("Menunggu", "Waiting"),
    "error_class": ("Jenis galat", "Error class"),
    "attempts": ("Percobaan", "Attempts"),
    "replayed": ("sudah di-replay", "replayed"),
    "replay": ("Replay", "Replay"),
    "dry_run": ("Uji coba (tanpa mengirim)", "Dry run (sends nothing)"),
    "confirm_replay": ("Ya, kirim ulang {n} pesan", "Yes, send {n} letters back"),
    "would_replay": (
        "Akan dikirim ulang: {replayed}; dilewati (sudah): {skipped}; tanpa tujuan: "
        "{unroutable}; ditolak: {refused}.",
        "Would send back: {replayed}; skipped (done before): {skipped}; no target: "
        "{unroutable}; refused: {refused}.",
    ),
    "replay_done": (
        "Dikirim ulang: {replayed}; dilewati: {skipped}; tanpa tujuan: {unroutable}; "
        "ditolak: {refused}. Tercatat di jejak audit.",
        "Sent back: {replayed}; skipped: {skipped}; no target: {unroutable}; refused: "
        "{refused}. Recorded in the audit trail.",
    ),
    "replaying": ("Mengirim ulang: {done} dari {total}", "Sending back: {done} of {total}"),
    "content": ("Isi pesan", "Content"),
    "sealed": ("tersegel", "sealed"),
    "select": ("Pilih", "Select"),
    # routing
    "explain": ("Jelaskan", "Explain"),
    "paste_report": ("Tempel laporan (teks atau JSON)", "Paste a report (text or JSON)"),
    "region_code": ("Kode wilayah", "Region code"),
    "decision": ("Keputusan", "Decision"),
    "destinations": ("Tujuan", "Destinations"),
    "matched_rules": ("Aturan yang cocok", "Rules that matched"),
    "rules_history": ("Riwayat aturan", "Rules history"),
    "dry_run_rules": ("Uji aturan baru atas laporan lalu", "Dry run of new rules on past reports"),
    "rules_folder": ("Folder aturan (di server)", "Rules folder (on the server)"),
    "would_move": ("Akan berpindah", "Would move"),
    "from": ("Dari", "From"),
    "to": ("Ke", "To"),
    # audit
    "chain_intact": ("Rantai utuh: {n} catatan diperiksa.", "Chain intact: {n} records checked."),
    "chain_broken": ("Rantai RUSAK: {first}", "Chain BROKEN: {first}"),
    "action": ("Tindakan", "Action"),
    "who": ("Siapa", "Who"),
    "outcome": ("Hasil", "Outcome"),
    "what": ("Apa", "What"),
}


def translate(language: str, key: str, **values: object) -> str:
    pair = WORDS.get(key)
    if pair is None:
        return key
    text = pair[1] if language == "en" else pair[0]
    return text.format(**values) if values else text
