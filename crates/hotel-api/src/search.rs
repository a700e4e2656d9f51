//! Availability search: fan out to simulated suppliers concurrently and aggregate what answers
//! within the deadline.

use std::time::{Duration, Instant};

use serde::Serialize;

const SUPPLIERS: [&str; 3] = ["atlas", "borealis", "cobalt"];

/// One offer.
#[derive(Clone, Debug, Serialize)]
pub struct Offer {
    /// Stable hotel id (used by `/bookings`).
    pub hotel_id: String,
    /// Display name.
    pub name: String,
    /// Which supplier offered it.
    pub supplier: &'static str,
    /// Price for the stay, in cents.
    pub price_cents: u64,
    /// ISO currency.
    pub currency: &'static str,
}

/// Supplier accounting of one search.
#[derive(Clone, Debug, Serialize)]
pub struct SupplierStats {
    /// Suppliers asked.
    pub queried: usize,
    /// Suppliers that answered in time.
    pub answered: usize,
    /// Suppliers cut by the deadline.
    pub timed_out: usize,
}

/// A search result.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    /// City searched.
    pub city: String,
    /// Offers, cheapest first.
    pub results: Vec<Offer>,
    /// Supplier accounting.
    pub suppliers: SupplierStats,
    /// Time taken.
    pub elapsed_ms: u64,
    /// Deadline applied.
    pub deadline_ms: u64,
}

/// Runs a search with the given simulated supplier latency and deadline.
pub async fn search(
    city: &str,
    nights: u32,
    latency: Duration,
    deadline: Duration,
) -> SearchResult {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, supplier) in SUPPLIERS.iter().enumerate() {
        let city = city.to_string();
        // Suppliers differ a little in speed: 80%, 100%, 120% of the configured latency.
        let delay = latency.mul_f64(0.8 + 0.2 * i as f64);
        set.spawn(async move {
            tokio::time::sleep(delay).await;
            offers(&city, supplier, nights)
        });
    }
    let mut results = Vec::new();
    let mut answered = 0;
    let until = tokio::time::Instant::now() + deadline;
    while let Ok(Some(joined)) = tokio::time::timeout_at(until, set.join_next()).await {
        if let Ok(mut o) = joined {
            answered += 1;
            results.append(&mut o);
        }
    }
    set.abort_all();
    results.sort_by(|a, b| {
        a.price_cents
            .cmp(&b.price_cents)
            .then(a.hotel_id.cmp(&b.hotel_id))
    });
    SearchResult {
        city: city.to_string(),
        results,
        suppliers: SupplierStats {
            queried: SUPPLIERS.len(),
            answered,
            timed_out: SUPPLIERS.len() - answered,
        },
        elapsed_ms: started.elapsed().as_millis() as u64,
        deadline_ms: deadline.as_millis() as u64,
    }
}

fn offers(city: &str, supplier: &'static str, nights: u32) -> Vec<Offer> {
    let slug: String = city
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (1..=2)
        .map(|n| {
            let seed = fnv(&format!("{slug}/{supplier}/{n}"));
            Offer {
                hotel_id: format!("h-{slug}-{n}"),
                name: format!("{} {}", city.trim(), ["Grand", "Central"][n as usize - 1]),
                supplier,
                price_cents: (8_000 + seed % 20_000) * u64::from(nights.max(1)),
                currency: "EUR",
            }
        })
        .collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadline_cuts_slow_suppliers() {
        let none = search(
            "Paris",
            2,
            Duration::from_secs(5),
            Duration::from_millis(20),
        )
        .await;
        assert_eq!(
            (none.suppliers.answered, none.suppliers.timed_out),
            (0, 3),
            "{none:?}"
        );
        assert!(
            none.elapsed_ms < 5000,
            "the deadline must cut the wait: {none:?}"
        );
        let all = search("Paris", 2, Duration::from_millis(1), Duration::from_secs(5)).await;
        assert_eq!(all.suppliers.answered, 3);
        assert_eq!(all.results.len(), 6);
        assert!(all
            .results
            .windows(2)
            .all(|w| w[0].price_cents <= w[1].price_cents));
    }
}
