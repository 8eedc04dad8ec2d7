//! Per-second rates from counters read at two instants.

use std::collections::HashMap;
use std::time::Instant;

/// Remembers the last counters of each named item (a disk, an interface)
/// and turns the next read into rates per second.
#[derive(Debug, Default)]
pub(crate) struct Rates<const N: usize> {
    prev: HashMap<String, [u64; N]>,
    at: Option<Instant>,
}

impl<const N: usize> Rates<N> {
    /// Records `counters` read at `now` and returns the rate of each item
    /// since the previous read: `None` on the first read of an item, and when
    /// a counter went backwards (the device was reset or replaced).
    pub(crate) fn update<'a>(
        &mut self,
        now: Instant,
        counters: impl IntoIterator<Item = (&'a str, [u64; N])>,
    ) -> Vec<(String, [u64; N], Option<[f64; N]>)> {
        let elapsed = self
            .at
            .map(|at| now.saturating_duration_since(at).as_secs_f64())
            .filter(|secs| *secs > 0.0);
        let mut next = HashMap::with_capacity(self.prev.len());
        let mut out = Vec::with_capacity(self.prev.len());
        for (name, values) in counters {
            let rate = match (elapsed, self.prev.get(name)) {
                (Some(secs), Some(prev)) if values.iter().zip(prev).all(|(v, p)| v >= p) => {
                    let mut r = [0.0; N];
                    for i in 0..N {
                        r[i] = (values[i] - prev[i]) as f64 / secs;
                    }
                    Some(r)
                }
                _ => None,
            };
            next.insert(name.to_owned(), values);
            out.push((name.to_owned(), values, rate));
        }
        self.prev = next;
        self.at = Some(now);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_read_has_no_rate_then_rates_per_second() {
        let mut rates = Rates::<2>::default();
        let t0 = Instant::now();
        let first = rates.update(t0, [("a", [100, 10])]);
        assert_eq!(first[0].2, None);
        let second = rates.update(
            t0 + Duration::from_secs(2),
            [("a", [300, 10]), ("b", [1, 1])],
        );
        assert_eq!(second[0].2, Some([100.0, 0.0]));
        assert_eq!(second[1].2, None);
        let reset = rates.update(t0 + Duration::from_secs(3), [("a", [5, 10])]);
        assert_eq!(reset[0].2, None);
    }
}
