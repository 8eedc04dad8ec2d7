//! The storage logic shared by every backend: how reports, raw chunks and
//! rollups are laid out and encoded, how a raw window is compacted, and how
//! history is bucketed. Backends only move these blobs in and out of SQL.
//!
//! # Layout
//! - **head**: one row per received report `(server, ts, body)`, the body
//!   holding `(series id, value)` pairs. Writing a report is one small row,
//!   so an acknowledged report is durable at once.
//! - **raw chunks**: once a one-hour window is complete (plus a grace period
//!   for late replays), its head rows are compacted into one `chunk_times`
//!   row per server (the report timestamps, delta-of-delta coded) and one
//!   `chunks` row per series (presence and values, see [`crate::codec`]).
//! - **rollups**: at the same time, per series, one-minute buckets (in
//!   one-day rows) and one-hour buckets (in 30-day rows), each bucket with
//!   sum, min, max, last and count, so a spike survives downsampling.
//!
//! A query reads the chunks or rollups of the series it needs plus the head
//! rows of its range (the data not yet compacted); the two never overlap.

use std::collections::{BTreeMap, HashMap};

use monitor_core::store::{Point, Tier};
use monitor_core::{StoreError, Timestamp};

use crate::codec::{self, Corrupt};

/// Width of a raw chunk window (one hour), in ms.
pub(crate) const RAW_WINDOW: i64 = 3_600_000;
/// Bucket width and row window of the minute tier, in ms.
pub(crate) const MINUTE: (i64, i64) = (60_000, 86_400_000);
/// Bucket width and row window of the hour tier, in ms.
pub(crate) const HOUR: (i64, i64) = (3_600_000, 30 * 86_400_000);

/// Tier numbers as stored in the `rollups` table.
pub(crate) const TIER_MINUTE: i64 = 1;
/// See [`TIER_MINUTE`].
pub(crate) const TIER_HOUR: i64 = 2;

/// The start of the window of width `width` holding `ts`.
pub(crate) fn window_of(ts: i64, width: i64) -> i64 {
    ts - ts.rem_euclid(width)
}

pub(crate) fn corrupt(what: &str) -> impl FnOnce(Corrupt) -> StoreError + '_ {
    move |_| StoreError::Other(format!("corrupt {what} in the database").into())
}

/// Encodes a head row body: `(series id, value)` pairs sorted by id.
pub(crate) fn encode_report(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + samples.len() * 10);
    codec::put_varint(&mut out, samples.len() as u64);
    let mut prev = 0i64;
    for &(id, value) in samples {
        codec::put_varint(&mut out, id.wrapping_sub(prev) as u64);
        prev = id;
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// Decodes [`encode_report`].
pub(crate) fn decode_report(mut input: &[u8]) -> Result<Vec<(i64, f64)>, Corrupt> {
    let n = usize::try_from(codec::get_varint(&mut input)?).map_err(|_| Corrupt)?;
    let mut out = Vec::with_capacity(n.min(65_536));
    let mut id = 0i64;
    for _ in 0..n {
        id = id.wrapping_add(codec::get_varint(&mut input)? as i64);
        let (value, rest) = input.split_first_chunk::<8>().ok_or(Corrupt)?;
        input = rest;
        out.push((id, f64::from_le_bytes(*value)));
    }
    Ok(out)
}

/// Summary of the samples in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) last: f64,
    pub(crate) count: u64,
}

impl Bucket {
    pub(crate) fn one(value: f64) -> Self {
        Bucket {
            sum: value,
            min: value,
            max: value,
            last: value,
            count: 1,
        }
    }

    /// Adds a later bucket (or sample) to this one.
    pub(crate) fn absorb(&mut self, later: &Bucket) {
        self.sum += later.sum;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.last = later.last;
        self.count += later.count;
    }

    pub(crate) fn point(&self, t: i64) -> Point {
        Point {
            t: Timestamp::from_millis(t),
            avg: self.sum / self.count.max(1) as f64,
            min: self.min,
            max: self.max,
            last: self.last,
            count: self.count,
        }
    }
}

/// One raw window of one server, decoded: report times and, per series, a
/// value per time (or none).
#[derive(Debug, Default)]
pub(crate) struct RawWindow {
    pub(crate) times: Vec<i64>,
    pub(crate) columns: HashMap<i64, Vec<Option<f64>>>,
}

impl RawWindow {
    /// Decodes a stored window: its times and the chunks of its series.
    pub(crate) fn decode(times: &[u8], chunks: &[(i64, Vec<u8>)]) -> Result<Self, Corrupt> {
        let times = codec::decode_times(times)?;
        let mut columns = HashMap::with_capacity(chunks.len());
        for (series, blob) in chunks {
            columns.insert(*series, decode_chunk(blob, times.len())?);
        }
        Ok(RawWindow { times, columns })
    }

    /// Adds reports (time, samples); a time already present is skipped.
    pub(crate) fn add(&mut self, reports: Vec<(i64, Vec<(i64, f64)>)>) {
        let mut by_time: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
        for (i, t) in self.times.iter().enumerate() {
            let samples = self
                .columns
                .iter()
                .filter_map(|(s, col)| col.get(i).copied().flatten().map(|v| (*s, v)))
                .collect();
            by_time.insert(*t, samples);
        }
        for (t, samples) in reports {
            by_time.entry(t).or_insert(samples);
        }
        self.times = by_time.keys().copied().collect();
        let n = self.times.len();
        self.columns.clear();
        for (i, samples) in by_time.into_values().enumerate() {
            for (series, value) in samples {
                self.columns.entry(series).or_insert_with(|| vec![None; n])[i] = Some(value);
            }
        }
    }

    /// The window encoded: the times blob and one chunk per series.
    pub(crate) fn encode(&self) -> (Vec<u8>, Vec<(i64, Vec<u8>)>) {
        let times = codec::encode_times(&self.times);
        let mut chunks: Vec<(i64, Vec<u8>)> = self
            .columns
            .iter()
            .map(|(s, col)| (*s, encode_chunk(col)))
            .collect();
        chunks.sort_unstable_by_key(|(s, _)| *s);
        (times, chunks)
    }

    /// The points of one series.
    pub(crate) fn points(&self, series: i64) -> Vec<(i64, f64)> {
        match self.columns.get(&series) {
            None => Vec::new(),
            Some(col) => self
                .times
                .iter()
                .zip(col)
                .filter_map(|(t, v)| v.map(|v| (*t, v)))
                .collect(),
        }
    }

    /// Per series, its buckets of width `width` (start, bucket), in time order.
    pub(crate) fn buckets(&self, width: i64) -> Vec<(i64, Vec<(i64, Bucket)>)> {
        let mut out: Vec<(i64, Vec<(i64, Bucket)>)> = self
            .columns
            .keys()
            .map(|s| (*s, bucketize(&self.points(*s), width)))
            .collect();
        out.sort_unstable_by_key(|(s, _)| *s);
        out
    }
}

/// Buckets of width `width` (epoch-aligned) of time-ordered points.
pub(crate) fn bucketize(points: &[(i64, f64)], width: i64) -> Vec<(i64, Bucket)> {
    let mut out: Vec<(i64, Bucket)> = Vec::new();
    for &(t, v) in points {
        let start = window_of(t, width);
        match out.last_mut() {
            Some((s, b)) if *s == start => b.absorb(&Bucket::one(v)),
            _ => out.push((start, Bucket::one(v))),
        }
    }
    out
}

/// A series' values within its window: a presence flag or bitmap, then the
/// values column.
fn encode_chunk(column: &[Option<f64>]) -> Vec<u8> {
    let values: Vec<f64> = column.iter().flatten().copied().collect();
    let mut out = Vec::with_capacity(values.len() * 2 + 8);
    if values.len() == column.len() {
        out.push(1);
    } else {
        out.push(0);
        let mut bitmap = vec![0u8; column.len().div_ceil(8)];
        for (i, v) in column.iter().enumerate() {
            if v.is_some() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        codec::put_bytes(&mut out, &bitmap);
    }
    out.extend_from_slice(&codec::encode_values(&values));
    out
}

fn decode_chunk(blob: &[u8], n: usize) -> Result<Vec<Option<f64>>, Corrupt> {
    let (&flag, mut rest) = blob.split_first().ok_or(Corrupt)?;
    let bitmap = if flag == 1 {
        None
    } else {
        Some(codec::get_bytes(&mut rest)?.to_vec())
    };
    let values = codec::decode_values(rest)?;
    let mut values = values.into_iter();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let present = match &bitmap {
            None => true,
            Some(b) => b.get(i / 8).is_some_and(|byte| byte & (1 << (i % 8)) != 0),
        };
        out.push(if present {
            Some(values.next().ok_or(Corrupt)?)
        } else {
            None
        });
    }
    Ok(out)
}

/// A rollup row: the buckets of one series in one tier window, by start.
pub(crate) fn encode_rollup(buckets: &BTreeMap<i64, Bucket>, window: i64, width: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let slots: Vec<i64> = buckets.keys().map(|t| (t - window) / width).collect();
    let slot_bytes = codec::encode_times(&slots);
    codec::put_bytes(&mut out, &slot_bytes);
    let column = |f: fn(&Bucket) -> f64| -> Vec<f64> { buckets.values().map(f).collect() };
    for col in [
        column(|b| b.sum),
        column(|b| b.min),
        column(|b| b.max),
        column(|b| b.last),
        column(|b| b.count as f64),
    ] {
        codec::put_bytes(&mut out, &codec::encode_values(&col));
    }
    out
}

/// Decodes [`encode_rollup`].
pub(crate) fn decode_rollup(
    mut blob: &[u8],
    window: i64,
    width: i64,
) -> Result<BTreeMap<i64, Bucket>, Corrupt> {
    let slots = codec::decode_times(codec::get_bytes(&mut blob)?)?;
    let mut columns = Vec::with_capacity(5);
    for _ in 0..5 {
        let col = codec::decode_values(codec::get_bytes(&mut blob)?)?;
        if col.len() != slots.len() {
            return Err(Corrupt);
        }
        columns.push(col);
    }
    Ok(slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            (
                window + slot * width,
                Bucket {
                    sum: columns[0][i],
                    min: columns[1][i],
                    max: columns[2][i],
                    last: columns[3][i],
                    count: columns[4][i] as u64,
                },
            )
        })
        .collect())
}

/// Which tier answers a query with `step_ms` buckets starting at `from_ms`,
/// given what retention keeps at `now_ms`: the coarsest tier not coarser
/// than the step, or a coarser one when the finer has been deleted.
pub(crate) fn choose_tier(
    step_ms: i64,
    from_ms: i64,
    now_ms: i64,
    retention: &monitor_core::store::RetentionPolicy,
) -> Tier {
    let kept = |d: std::time::Duration| now_ms.saturating_sub(d.as_millis() as i64);
    let mut tier = if step_ms >= HOUR.0 {
        Tier::Hour
    } else if step_ms >= MINUTE.0 {
        Tier::Minute
    } else {
        Tier::Raw
    };
    if tier == Tier::Raw && from_ms < kept(retention.raw) {
        tier = Tier::Minute;
    }
    if tier == Tier::Minute && from_ms < kept(retention.minute) {
        tier = Tier::Hour;
    }
    tier
}

/// The bucket width of a query: the given step, or the range over
/// `max_points`, whichever is wider (a step of one second over a week
/// would make more buckets than `max_points`), at least one second, rounded
/// up to a multiple of the tier's resolution.
pub(crate) fn plan_step(range_ms: i64, step_ms: Option<i64>, max_points: u32) -> i64 {
    let points = i64::from(max_points.max(1));
    let fitting = (range_ms + points - 1) / points;
    let raw = step_ms.map_or(fitting, |step| step.max(fitting));
    let step = raw.max(1000);
    let unit = if step >= HOUR.0 {
        HOUR.0
    } else if step >= MINUTE.0 {
        MINUTE.0
    } else {
        1000
    };
    (step + unit - 1) / unit * unit
}

/// Collects buckets (or single points) into query buckets of `step` ms,
/// in any order: each query bucket keeps the time of its `last`.
#[derive(Debug)]
pub(crate) struct Downsampler {
    step: i64,
    from: i64,
    to: i64,
    buckets: BTreeMap<i64, (Bucket, i64)>,
}

impl Downsampler {
    pub(crate) fn new(step: i64, from: i64, to: i64) -> Self {
        Downsampler {
            step,
            from,
            to,
            buckets: BTreeMap::new(),
        }
    }

    /// Adds a sample or a finer bucket starting at `t`.
    pub(crate) fn add(&mut self, t: i64, bucket: &Bucket) {
        if t < self.from || t >= self.to {
            return;
        }
        self.buckets
            .entry(window_of(t, self.step))
            .and_modify(|(b, last_t)| {
                let last = if t >= *last_t {
                    *last_t = t;
                    bucket.last
                } else {
                    b.last
                };
                b.absorb(bucket);
                b.last = last;
            })
            .or_insert((*bucket, t));
    }

    pub(crate) fn finish(self) -> Vec<Point> {
        self.buckets.iter().map(|(t, (b, _))| b.point(*t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_bodies_round_trip() {
        let samples = vec![(3, 1.5), (4, -2.0), (90, 1e300), (91, 0.0)];
        assert_eq!(decode_report(&encode_report(&samples)).unwrap(), samples);
        assert!(decode_report(&[5, 1]).is_err());
    }

    #[test]
    fn windows_merge_late_reports_and_round_trip() {
        let mut w = RawWindow::default();
        w.add(vec![
            (1000, vec![(1, 1.0), (2, 10.0)]),
            (3000, vec![(1, 3.0)]),
        ]);
        let (times, chunks) = w.encode();
        let mut back = RawWindow::decode(&times, &chunks).unwrap();
        assert_eq!(back.points(1), vec![(1000, 1.0), (3000, 3.0)]);
        assert_eq!(back.points(2), vec![(1000, 10.0)]);
        back.add(vec![
            (2000, vec![(1, 2.0), (2, 20.0)]),
            (1000, vec![(1, 99.0)]),
        ]);
        assert_eq!(back.points(1), vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
        assert_eq!(back.points(2), vec![(1000, 10.0), (2000, 20.0)]);
    }

    #[test]
    fn rollups_round_trip() {
        let points: Vec<(i64, f64)> = (0..300).map(|i| (i * 1000, (i % 17) as f64)).collect();
        let buckets: BTreeMap<i64, Bucket> = bucketize(&points, MINUTE.0).into_iter().collect();
        let blob = encode_rollup(&buckets, 0, MINUTE.0);
        assert_eq!(decode_rollup(&blob, 0, MINUTE.0).unwrap(), buckets);
    }

    #[test]
    fn tier_and_step_choice() {
        let r = monitor_core::store::RetentionPolicy::default();
        let now = 100 * 86_400_000;
        assert_eq!(choose_tier(5_000, now - 3_600_000, now, &r), Tier::Raw);
        assert_eq!(choose_tier(60_000, now - 3_600_000, now, &r), Tier::Minute);
        assert_eq!(
            choose_tier(5_000, now - 8 * 86_400_000, now, &r),
            Tier::Minute
        );
        assert_eq!(choose_tier(3_600_000, now, now, &r), Tier::Hour);
        assert_eq!(
            choose_tier(60_000, now - 95 * 86_400_000, now, &r),
            Tier::Hour
        );
        assert_eq!(plan_step(3_600_000, None, 1000), 4000);
        assert_eq!(plan_step(30 * 86_400_000, None, 1000), 2_640_000);
        assert_eq!(plan_step(1000, Some(90_000), 10), 120_000);
        assert_eq!(plan_step(1000, Some(10), 10), 1000);
    }
}
