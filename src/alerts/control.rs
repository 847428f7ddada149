//! Steward's own control alerts (seed §9.2.3) — filled in below.
