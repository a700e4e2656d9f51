//! Bookings persisted in SQLite (WAL), shared by the old and the new worker during a restart
//! and kept across restarts and rollbacks.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// A booking request.
#[derive(Clone, Debug, Deserialize)]
pub struct NewBooking {
    /// Hotel identifier from `/search`.
    pub hotel_id: String,
    /// Guest name.
    pub guest_name: String,
    /// Arrival date, `YYYY-MM-DD`.
    pub checkin: String,
    /// Departure date, `YYYY-MM-DD`.
    pub checkout: String,
}

/// A stored booking.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Booking {
    /// `bk_` + 16 hex digits.
    pub id: String,
    /// Hotel.
    pub hotel_id: String,
    /// Guest.
    pub guest_name: String,
    /// Arrival.
    pub checkin: String,
    /// Departure.
    pub checkout: String,
    /// Always `confirmed` for now.
    pub status: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input rejected.
    #[error("{0}")]
    Invalid(String),
    /// SQLite failure.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Data directory.
    #[error("data directory {path:?}: {source}")]
    Dir {
        /// Directory.
        path: std::path::PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Handle to the database (cheap to clone).
#[derive(Clone, Debug)]
pub struct Store(Arc<Mutex<Connection>>);

impl Store {
    /// Opens (creating if needed) `DIR/bookings.sqlite3` in WAL mode.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(dir.join("bookings.sqlite3"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bookings (
                id TEXT PRIMARY KEY,
                hotel_id TEXT NOT NULL,
                guest_name TEXT NOT NULL,
                checkin TEXT NOT NULL,
                checkout TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL
            )",
        )?;
        Ok(Store(Arc::new(Mutex::new(conn))))
    }

    /// Validates and stores a booking.
    pub fn create(&self, b: &NewBooking) -> Result<Booking, StoreError> {
        validate(b)?;
        let booking = Booking {
            id: new_id(),
            hotel_id: b.hotel_id.trim().into(),
            guest_name: b.guest_name.trim().into(),
            checkin: b.checkin.clone(),
            checkout: b.checkout.clone(),
            status: "confirmed".into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let conn = self.0.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO bookings (id, hotel_id, guest_name, checkin, checkout, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                booking.id,
                booking.hotel_id,
                booking.guest_name,
                booking.checkin,
                booking.checkout,
                booking.status,
                booking.created_at
            ],
        )?;
        Ok(booking)
    }

    /// Looks a booking up.
    pub fn get(&self, id: &str) -> Result<Option<Booking>, StoreError> {
        let conn = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let row = conn
            .query_row(
                "SELECT id, hotel_id, guest_name, checkin, checkout, status, created_at FROM bookings WHERE id = ?1",
                params![id],
                |r| {
                    Ok(Booking {
                        id: r.get(0)?,
                        hotel_id: r.get(1)?,
                        guest_name: r.get(2)?,
                        checkin: r.get(3)?,
                        checkout: r.get(4)?,
                        status: r.get(5)?,
                        created_at: r.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }
}

fn validate(b: &NewBooking) -> Result<(), StoreError> {
    let bad = |m: &str| Err(StoreError::Invalid(m.into()));
    let hotel = b.hotel_id.trim();
    if hotel.is_empty() || hotel.len() > 64 {
        return bad("hotel_id must be 1 to 64 characters");
    }
    let guest = b.guest_name.trim();
    if guest.is_empty() || guest.len() > 128 {
        return bad("guest_name must be 1 to 128 characters");
    }
    let date = |s: &str, field: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| StoreError::Invalid(format!("{field} must be a date YYYY-MM-DD")))
    };
    let (cin, cout) = (date(&b.checkin, "checkin")?, date(&b.checkout, "checkout")?);
    let nights = (cout - cin).num_days();
    if !(1..=30).contains(&nights) {
        return bad("checkout must be 1 to 30 nights after checkin");
    }
    Ok(())
}

fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("bk_{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nb(cin: &str, cout: &str) -> NewBooking {
        NewBooking {
            hotel_id: "h-paris-1".into(),
            guest_name: "Ada".into(),
            checkin: cin.into(),
            checkout: cout.into(),
        }
    }

    #[test]
    fn create_get_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let b = s.create(&nb("2026-12-01", "2026-12-03")).unwrap();
        assert_eq!(s.get(&b.id).unwrap().unwrap(), b);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get(&b.id).unwrap().unwrap(), b);
        assert!(s.get("bk_missing").unwrap().is_none());
    }

    #[test]
    fn rejects_bad_dates() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (a, b) in [
            ("2026-12-03", "2026-12-01"),
            ("x", "2026-12-01"),
            ("2026-12-01", "2027-02-01"),
        ] {
            assert!(matches!(s.create(&nb(a, b)), Err(StoreError::Invalid(_))));
        }
    }
}
