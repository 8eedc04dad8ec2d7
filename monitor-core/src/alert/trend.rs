//! What a rule compares with its threshold: the reported value, or a
//! figure derived from the series' recent past (how much a counter grew,
//! how long until a trend reaches a target).
//!
//! The past is kept small: per series at most [`POINTS`] values, at least an
//! eighth of the rule's window apart, in 4-byte times and values (about
//! 130 bytes a series with its place in the evaluator's table), so a rule
//! on every filesystem of 10,000 hosts costs a few megabytes.
//!
//! ```
//! use monitor_core::alert::{Function, Trend};
//! use monitor_core::Timestamp;
//!
//! // A disk filling by 1 % an hour, 90 % full now: full in about 10 hours.
//! let until_full = Function::SecondsUntil { target: 100.0, window_secs: 6 * 3600 };
//! let mut trend = Trend::default();
//! let mut seconds = f64::INFINITY;
//! for hour in 0..=6 {
//!     let at = Timestamp::from_millis(hour * 3_600_000);
//!     seconds = until_full.apply(&mut trend, at, 84.0 + hour as f64);
//! }
//! assert!((seconds / 3600.0 - 10.0).abs() < 0.01);
//! ```

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// Values kept per series.
pub const POINTS: usize = 8;

/// The longest window a rule may look back over (7 days).
pub const MAX_WINDOW_SECS: u64 = 7 * 86_400;

/// The shortest window (one minute).
pub const MIN_WINDOW_SECS: u64 = 60;

/// What a rule compares with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RuleFunction))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Function {
    /// The value as reported.
    #[default]
    Value,
    /// How much the value grew over the last `window_secs` (a drop counts
    /// as a reset to zero, as for counters): `container_restarts_total`
    /// with `increase` over 900 s `>= 3` fires on a container restarted
    /// three times in fifteen minutes.
    Increase {
        /// How far back, in seconds.
        window_secs: u64,
    },
    /// Seconds until the value reaches `target` at the pace of its trend
    /// over the last `window_secs` (a least-squares line); infinite when it
    /// is not heading there or the series is younger than an eighth of the
    /// window. `filesystem_used_percent` with `seconds_until` 100 over 6 h
    /// `< 86400` fires on a filesystem full within a day.
    SecondsUntil {
        /// The value whose arrival is predicted.
        target: f64,
        /// How far back the trend is read, in seconds.
        window_secs: u64,
    },
}

impl Function {
    /// Whether this is the plain value (no history kept).
    pub fn is_value(&self) -> bool {
        matches!(self, Function::Value)
    }

    /// The window looked back over (zero for the plain value).
    pub fn window_secs(&self) -> u64 {
        match self {
            Function::Value => 0,
            Function::Increase { window_secs } | Function::SecondsUntil { window_secs, .. } => {
                *window_secs
            }
        }
    }

    /// Checks the window and target.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_value() {
            return Ok(());
        }
        let window = self.window_secs();
        if !(MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(&window) {
            return Err(format!(
                "function.window_secs: {window} is outside {MIN_WINDOW_SECS}..={MAX_WINDOW_SECS} (one minute to seven days)"
            ));
        }
        if let Function::SecondsUntil { target, .. } = self
            && !target.is_finite()
        {
            return Err("function.target: must be a finite number".into());
        }
        Ok(())
    }

    /// Records `value` at `at` in `trend` and returns what the rule
    /// compares: the value itself, its increase, or the seconds until the
    /// target.
    pub fn apply(&self, trend: &mut Trend, at: Timestamp, value: f64) -> f64 {
        let window_ms = i64::try_from(self.window_secs()).unwrap_or(i64::MAX / 1000) * 1000;
        match *self {
            Function::Value => value,
            Function::Increase { .. } => {
                // The points hold the running sum of increases, which every
                // report adds to: a reset between two kept points counts.
                if at.as_millis() >= trend.last_ms || trend.len == 0 {
                    if trend.len > 0 {
                        let d = value - trend.last_raw;
                        trend.total += if d >= 0.0 { d } else { value };
                    }
                    trend.last_raw = value;
                    trend.record(at, trend.total, window_ms);
                }
                let start = trend.points().next().map_or(trend.total, |(_, v)| v);
                (trend.total - start).max(0.0)
            }
            Function::SecondsUntil { target, .. } => {
                trend.record(at, value, window_ms);
                seconds_until(trend, at, value, target, window_ms)
            }
        }
    }
}

/// A least-squares line through the kept points and the current value.
fn seconds_until(trend: &Trend, at: Timestamp, value: f64, target: f64, window_ms: i64) -> f64 {
    let points: Vec<(f64, f64)> = trend
        .points()
        .filter(|(t, _)| *t < at.as_millis())
        .chain([(at.as_millis(), value)])
        .map(|(t, v)| ((t - at.as_millis()) as f64 / 1000.0, v))
        .collect();
    let span_s = -points.first().map_or(0.0, |p| p.0);
    if points.len() < 3 || span_s * 1000.0 < (window_ms / POINTS as i64) as f64 {
        return f64::INFINITY;
    }
    let n = points.len() as f64;
    let (mt, mv) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, v)| (a + t / n, b + v / n));
    let (cov, var) = points.iter().fold((0.0, 0.0), |(c, w), (t, v)| {
        (c + (t - mt) * (v - mv), w + (t - mt) * (t - mt))
    });
    if var == 0.0 {
        return f64::INFINITY;
    }
    let slope = cov / var;
    let remaining = target - value;
    if remaining == 0.0 {
        return 0.0;
    }
    let seconds = remaining / slope;
    if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        f64::INFINITY
    }
}

/// A series' recent values, as much as its rule's window needs.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    /// Milliseconds of the first point ever kept; times are seconds after it.
    base_ms: i64,
    /// When the series was last seen (for forgetting it).
    last_ms: i64,
    /// `Increase`: the last value reported, and the sum of increases.
    last_raw: f64,
    total: f64,
    len: u8,
    times: [u32; POINTS],
    values: [f32; POINTS],
}

impl Trend {
    /// The kept points, oldest first, as (milliseconds, value).
    pub fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        (0..usize::from(self.len)).map(|i| {
            (
                self.base_ms + i64::from(self.times[i]) * 1000,
                f64::from(self.values[i]),
            )
        })
    }

    /// When the series was last seen, in milliseconds.
    pub fn last_seen_ms(&self) -> i64 {
        self.last_ms
    }

    /// Keeps `value` when the newest kept point is an eighth of the window
    /// old, and drops points older than the window (the newest of those
    /// stays as the window's start).
    fn record(&mut self, at: Timestamp, value: f64, window_ms: i64) {
        let at_ms = at.as_millis();
        if self.len == 0 {
            self.base_ms = at_ms;
        }
        self.last_ms = self.last_ms.max(at_ms);
        let step = (window_ms / POINTS as i64).max(1000);
        let newest = self.points().last().map(|(t, _)| t);
        if newest.is_some_and(|t| at_ms - t < step) {
            return;
        }
        // Points older than the window go, except the newest of them.
        let start = at_ms - window_ms;
        let old = self.points().take_while(|(t, _)| *t < start).count();
        self.drop_front(old.saturating_sub(1));
        if usize::from(self.len) == POINTS {
            self.drop_front(1);
        }
        let Ok(secs) = u32::try_from((at_ms - self.base_ms).max(0) / 1000) else {
            // Over 136 years after the first point: start again.
            *self = Trend::default();
            return self.record(at, value, window_ms);
        };
        let i = usize::from(self.len);
        self.times[i] = secs;
        self.values[i] = value as f32;
        self.len += 1;
    }

    fn drop_front(&mut self, n: usize) {
        let len = usize::from(self.len);
        let n = n.min(len);
        self.times.copy_within(n..len, 0);
        self.values.copy_within(n..len, 0);
        self.len -= n as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn increase_counts_growth_in_the_window_and_resets_from_zero() {
        let f = Function::Increase { window_secs: 900 };
        let mut trend = Trend::default();
        // A restart count: 0 for ten minutes, then 1, 2, 3 a minute apart.
        let mut last = 0.0;
        for minute in 0..=10 {
            last = f.apply(&mut trend, at(minute * 60), 0.0);
        }
        assert_eq!(last, 0.0);
        for (minute, count) in [(11, 1.0), (12, 2.0), (13, 3.0)] {
            last = f.apply(&mut trend, at(minute * 60), count);
        }
        assert_eq!(last, 3.0);
        // The container was recreated: its count starts at 0 again.
        assert_eq!(f.apply(&mut trend, at(14 * 60), 1.0), 4.0);
        // Half an hour later with no restart, the window holds none.
        let mut quiet = 0.0;
        for minute in 15..=45 {
            quiet = f.apply(&mut trend, at(minute * 60), 1.0);
        }
        assert_eq!(quiet, 0.0);
        assert!(usize::from(trend.len) <= POINTS);
    }

    #[test]
    fn seconds_until_follows_the_trend_and_is_infinite_without_one() {
        let f = Function::SecondsUntil {
            target: 100.0,
            window_secs: 3600,
        };
        let mut rising = Trend::default();
        let mut seconds = 0.0;
        // 0.01 % a second from 50 %: 100 % in 5,000 s from the start.
        for s in (0..=1800).step_by(5) {
            seconds = f.apply(&mut rising, at(s), 50.0 + s as f64 * 0.01);
        }
        assert!((seconds - 3200.0).abs() < 1.0, "{seconds}");
        let mut flat = Trend::default();
        for s in (0..=1800).step_by(5) {
            seconds = f.apply(&mut flat, at(s), 50.0);
        }
        assert!(seconds.is_infinite());
        let mut falling = Trend::default();
        for s in (0..=1800).step_by(5) {
            seconds = f.apply(&mut falling, at(s), 90.0 - s as f64 * 0.01);
        }
        assert!(seconds.is_infinite(), "not heading to the target");
        // Too young to tell: a minute of a one-hour window.
        let mut young = Trend::default();
        for s in (0..=60).step_by(5) {
            seconds = f.apply(&mut young, at(s), 50.0 + s as f64);
        }
        assert!(seconds.is_infinite());
    }

    #[test]
    fn windows_are_checked() {
        assert!(Function::Value.validate().is_ok());
        assert!(Function::Increase { window_secs: 10 }.validate().is_err());
        assert!(
            Function::SecondsUntil {
                target: f64::NAN,
                window_secs: 600
            }
            .validate()
            .is_err()
        );
        let json = r#"{"kind": "seconds_until", "target": 100, "window_secs": 21600}"#;
        let f: Function = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.window_secs(), 21600);
    }
}
