//! Compact, lossless encodings of time series, as time-series databases do:
//!
//! - **timestamps** (milliseconds): the first raw, then delta-of-delta in
//!   variable-width bit buckets, so a regular interval with a few ms of
//!   jitter costs about 9 bits and a perfectly regular one 1 bit;
//! - **values**, per column, the cheapest of:
//!   - *integer mode*: when every value is an integer after scaling by 1,
//!     100 or 10,000 (bytes, counts, percentages with two decimals), the
//!     scaled integers are divided by the greatest common divisor of their
//!     differences (memory moves in 4 KiB pages) and written as deltas or
//!     delta-of-deltas (whichever is smaller) in bit buckets: a constant
//!     costs 1 bit, a slowly moving gauge about 2 bytes;
//!   - *XOR mode* (Gorilla): each value XORed with the previous one, for
//!     arbitrary floats.
//!
//! Decoding gives back exactly the values encoded (tested on random data).

/// Writes bits, most significant first.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    used: u8,
}

impl BitWriter {
    pub(crate) fn write(&mut self, value: u64, bits: u8) {
        let mut remaining = bits;
        while remaining > 0 {
            if self.used == 0 || self.used == 8 {
                self.bytes.push(0);
                self.used = 0;
            }
            let free = 8 - self.used;
            let take = free.min(remaining);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (free - take);
            }
            self.used += take;
            remaining -= take;
        }
    }

    pub(crate) fn bit(&mut self, on: bool) {
        self.write(u64::from(on), 1);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// The data ended before the value did, or is otherwise malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt;

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    pub(crate) fn read(&mut self, bits: u8) -> Result<u64, Corrupt> {
        let mut value = 0u64;
        for _ in 0..bits {
            let byte = *self.bytes.get(self.pos / 8).ok_or(Corrupt)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            value = (value << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(value)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, Corrupt> {
        Ok(self.read(1)? == 1)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Signed integer in bit buckets: 0 → `0`; < 2^6 → `10`+6; < 2^13 → `110`+13;
/// < 2^20 → `1110`+20; else `1111`+64 (zigzag encoded).
fn write_int(w: &mut BitWriter, v: i64) {
    let z = zigzag(v);
    if z == 0 {
        w.write(0, 1);
    } else if z < 1 << 6 {
        w.write(0b10, 2);
        w.write(z, 6);
    } else if z < 1 << 13 {
        w.write(0b110, 3);
        w.write(z, 13);
    } else if z < 1 << 20 {
        w.write(0b1110, 4);
        w.write(z, 20);
    } else {
        w.write(0b1111, 4);
        w.write(z, 64);
    }
}

fn int_cost(v: i64) -> u64 {
    let z = zigzag(v);
    if z == 0 {
        1
    } else if z < 1 << 6 {
        8
    } else if z < 1 << 13 {
        16
    } else if z < 1 << 20 {
        24
    } else {
        68
    }
}

fn read_int(r: &mut BitReader<'_>) -> Result<i64, Corrupt> {
    let z = if !r.bit()? {
        0
    } else if !r.bit()? {
        r.read(6)?
    } else if !r.bit()? {
        r.read(13)?
    } else if !r.bit()? {
        r.read(20)?
    } else {
        r.read(64)?
    };
    Ok(unzigzag(z))
}

/// Writes a count (non-negative, < 2^32) compactly.
fn write_count(w: &mut BitWriter, n: usize) {
    write_int(w, n as i64);
}

fn read_count(r: &mut BitReader<'_>) -> Result<usize, Corrupt> {
    usize::try_from(read_int(r)?).map_err(|_| Corrupt)
}

/// Encodes strictly or loosely increasing millisecond timestamps.
pub(crate) fn encode_times(times: &[i64]) -> Vec<u8> {
    let mut w = BitWriter::default();
    write_count(&mut w, times.len());
    let mut prev = 0i64;
    let mut prev_delta = 0i64;
    for (i, &t) in times.iter().enumerate() {
        if i == 0 {
            w.write(t as u64, 64);
        } else {
            let delta = t.wrapping_sub(prev);
            write_int(&mut w, delta.wrapping_sub(prev_delta));
            prev_delta = delta;
        }
        prev = t;
    }
    w.finish()
}

/// Decodes [`encode_times`].
pub(crate) fn decode_times(bytes: &[u8]) -> Result<Vec<i64>, Corrupt> {
    let mut r = BitReader::new(bytes);
    let n = read_count(&mut r)?;
    let mut out = Vec::with_capacity(n.min(1 << 20));
    let mut prev = 0i64;
    let mut prev_delta = 0i64;
    for i in 0..n {
        let t = if i == 0 {
            r.read(64)? as i64
        } else {
            let delta = prev_delta.wrapping_add(read_int(&mut r)?);
            prev_delta = delta;
            prev.wrapping_add(delta)
        };
        out.push(t);
        prev = t;
    }
    Ok(out)
}

const SCALES: [f64; 3] = [1.0, 100.0, 10_000.0];
const MODE_XOR: u64 = 0;
const MODE_DELTA: u64 = 1;
const MODE_DOD: u64 = 2;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The values as integers after the smallest scale that keeps them exact.
fn as_scaled_ints(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    'scales: for (index, scale) in SCALES.iter().enumerate() {
        let mut ints = Vec::with_capacity(values.len());
        for &v in values {
            let scaled = (v * scale).round();
            // Exact, bit for bit (so -0.0 stays in XOR mode).
            if !scaled.is_finite()
                || scaled.abs() >= 9.0e15
                || ((scaled as i64) as f64 / scale).to_bits() != v.to_bits()
            {
                continue 'scales;
            }
            ints.push(scaled as i64);
        }
        return Some((index as u8, ints));
    }
    None
}

/// Encodes a column of finite values.
pub(crate) fn encode_values(values: &[f64]) -> Vec<u8> {
    let mut w = BitWriter::default();
    write_count(&mut w, values.len());
    if values.is_empty() {
        return w.finish();
    }
    if let Some((scale, ints)) = as_scaled_ints(values) {
        let divisor = ints
            .windows(2)
            .fold(0u64, |g, pair| gcd(g, pair[1].abs_diff(pair[0])))
            .max(1);
        let first = ints[0];
        let steps: Vec<i64> = ints
            .windows(2)
            .map(|pair| pair[1].wrapping_sub(pair[0]) / divisor as i64)
            .collect();
        let delta_cost: u64 = steps.iter().map(|d| int_cost(*d)).sum();
        let mut prev = 0i64;
        let dod_cost: u64 = steps
            .iter()
            .map(|&d| {
                let c = int_cost(d.wrapping_sub(prev));
                prev = d;
                c
            })
            .sum();
        let mode = if dod_cost < delta_cost {
            MODE_DOD
        } else {
            MODE_DELTA
        };
        w.write(mode, 2);
        w.write(u64::from(scale), 2);
        w.write(first as u64, 64);
        write_int(&mut w, divisor as i64);
        let mut prev = 0i64;
        for &d in &steps {
            if mode == MODE_DOD {
                write_int(&mut w, d.wrapping_sub(prev));
                prev = d;
            } else {
                write_int(&mut w, d);
            }
        }
        return w.finish();
    }
    w.write(MODE_XOR, 2);
    let mut prev = 0u64;
    let mut prev_leading = u32::MAX;
    let mut prev_trailing = 0u32;
    for (i, v) in values.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            w.write(bits, 64);
            prev = bits;
            continue;
        }
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        let leading = x.leading_zeros().min(31);
        let trailing = x.trailing_zeros();
        if prev_leading != u32::MAX && leading >= prev_leading && trailing >= prev_trailing {
            w.bit(false);
            let len = 64 - prev_leading - prev_trailing;
            w.write(x >> prev_trailing, len as u8);
        } else {
            w.bit(true);
            let len = 64 - leading - trailing;
            w.write(u64::from(leading), 5);
            // len is 1..=64; store len - 1 in 6 bits.
            w.write(u64::from(len - 1), 6);
            w.write(x >> trailing, len as u8);
            prev_leading = leading;
            prev_trailing = trailing;
        }
    }
    w.finish()
}

/// Decodes [`encode_values`].
pub(crate) fn decode_values(bytes: &[u8]) -> Result<Vec<f64>, Corrupt> {
    let mut r = BitReader::new(bytes);
    let n = read_count(&mut r)?;
    let mut out = Vec::with_capacity(n.min(1 << 20));
    if n == 0 {
        return Ok(out);
    }
    let mode = r.read(2)?;
    if mode == MODE_DELTA || mode == MODE_DOD {
        let scale = *SCALES.get(r.read(2)? as usize).ok_or(Corrupt)?;
        let mut current = r.read(64)? as i64;
        let divisor = read_int(&mut r)?;
        out.push(current as f64 / scale);
        let mut step = 0i64;
        for _ in 1..n {
            let x = read_int(&mut r)?;
            step = if mode == MODE_DOD {
                step.wrapping_add(x)
            } else {
                x
            };
            current = current.wrapping_add(step.wrapping_mul(divisor));
            out.push(current as f64 / scale);
        }
        return Ok(out);
    }
    if mode != MODE_XOR {
        return Err(Corrupt);
    }
    let mut prev = r.read(64)?;
    out.push(f64::from_bits(prev));
    let mut leading = 0u32;
    let mut trailing = 0u32;
    for _ in 1..n {
        if r.bit()? {
            if r.bit()? {
                leading = r.read(5)? as u32;
                let len = r.read(6)? as u32 + 1;
                if leading + len > 64 {
                    return Err(Corrupt);
                }
                trailing = 64 - leading - len;
            }
            let len = 64 - leading - trailing;
            let x = r.read(len as u8)? << trailing;
            prev ^= x;
        }
        out.push(f64::from_bits(prev));
    }
    Ok(out)
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a length-prefixed byte string.
pub(crate) fn get_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], Corrupt> {
    let len = usize::try_from(get_varint(input)?).map_err(|_| Corrupt)?;
    if input.len() < len {
        return Err(Corrupt);
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}

/// LEB128 unsigned varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint.
pub(crate) fn get_varint(input: &mut &[u8]) -> Result<u64, Corrupt> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or(Corrupt)?;
        *input = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    use monitor_core::testing::Rng;

    fn round_trip(values: &[f64]) -> usize {
        let bytes = encode_values(values);
        let back = decode_values(&bytes).unwrap();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} != {b}");
        }
        bytes.len()
    }

    #[test]
    fn values_round_trip_exactly_in_every_mode() {
        let mut rng = Rng(0x9E3779B97F4A7C15);
        round_trip(&[]);
        round_trip(&[42.0]);
        round_trip(&[0.0, -0.0, 1.5]);
        let constant = vec![8_000_000_000.0; 720];
        assert!(
            round_trip(&constant) < 110,
            "constant column is ~1 bit a value"
        );
        let pages: Vec<f64> = (0..720)
            .map(|_| (1_000_000 + (rng.next_u64() % 5000) as i64) as f64 * 4096.0)
            .collect();
        let size = round_trip(&pages);
        assert!(size < 720 * 3, "page-sized gauge: {size} bytes");
        let percents: Vec<f64> = (0..720)
            .map(|_| ((rng.unit() * 10_000.0).round()) / 100.0)
            .collect();
        let size = round_trip(&percents);
        assert!(size < 720 * 3, "two-decimal percentages: {size} bytes");
        let mut total = 0.0;
        let counter: Vec<f64> = (0..720)
            .map(|_| {
                total += 100_000.0 + (rng.next_u64() % 7) as f64;
                total
            })
            .collect();
        round_trip(&counter);
        let noise: Vec<f64> = (0..720).map(|_| rng.unit() * 1e6 - 5e5).collect();
        round_trip(&noise);
        let extremes = [
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            9.007e15,
            -9.1e15,
            1e-300,
        ];
        round_trip(&extremes);
        for _ in 0..200 {
            let n = (rng.next_u64() % 50) as usize;
            let v: Vec<f64> = (0..n)
                .map(|_| match rng.next_u64() % 4 {
                    0 => (rng.next_u64() % 1000) as f64,
                    1 => rng.unit(),
                    2 => -((rng.next_u64() % 100_000) as f64) / 100.0,
                    _ => f64::from_bits(rng.next_u64() >> 2),
                })
                .filter(|v| v.is_finite())
                .collect();
            round_trip(&v);
        }
    }

    #[test]
    fn times_round_trip_and_are_small_when_regular() {
        let mut rng = Rng(7);
        let mut t = 1_795_000_000_000i64;
        let times: Vec<i64> = (0..720)
            .map(|_| {
                t += 5000 + (rng.next_u64() % 7) as i64 - 3;
                t
            })
            .collect();
        let bytes = encode_times(&times);
        assert_eq!(decode_times(&bytes).unwrap(), times);
        assert!(bytes.len() < 720 * 2, "{} bytes", bytes.len());
        assert_eq!(decode_times(&encode_times(&[])).unwrap(), Vec::<i64>::new());
        let odd = [i64::MIN, 0, i64::MAX, -5];
        assert_eq!(decode_times(&encode_times(&odd)).unwrap(), odd);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = encode_values(&[1.5, 2.25, 3.125, 1e9]);
        for cut in 0..bytes.len() {
            let _ = decode_values(&bytes[..cut]);
        }
        assert!(decode_values(&[]).is_err());
        let times = encode_times(&[1, 2, 3]);
        assert!(decode_times(&times[..times.len() - 1]).is_err() || times.len() == 1);
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            put_varint(&mut out, v);
        }
        let mut input = out.as_slice();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(get_varint(&mut input).unwrap(), v);
        }
        assert!(get_varint(&mut input).is_err());
    }
}
