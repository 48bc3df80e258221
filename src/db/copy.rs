//! PostgreSQL's binary `COPY` format, written directly: the sync's fastest way to store a page of
//! new hours (`COPY … FROM STDIN (FORMAT binary)`), with exact decimals encoded as `numeric`'s
//! own wire form so the server parses nothing.
//!
//! The format (PostgreSQL manual, "COPY", "Binary Format"): a signature and two 32-bit header
//! fields, then per row a 16-bit field count and each field as a 32-bit length and its bytes in
//! the type's binary send/receive form, then a 16-bit -1 trailer.

/// The 11-byte signature, the flags field and the header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// `numeric`'s sign word for a negative value.
const NUMERIC_NEG: u16 = 0x4000;

/// A binary `COPY` payload being written.
pub struct CopyWriter {
    buf: Vec<u8>,
}

impl CopyWriter {
    /// A payload with room for about `bytes`.
    pub fn with_capacity(bytes: usize) -> CopyWriter {
        let mut buf = Vec::with_capacity(bytes + HEADER.len() + 2);
        buf.extend_from_slice(HEADER);
        CopyWriter { buf }
    }

    /// Starts a row of `fields` fields.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    /// A `text` field.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.field(s.as_bytes())
    }

    /// A `bigint` field.
    pub fn int8(&mut self, v: i64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    /// A `numeric` field holding exactly the value of `decimal`, a plain-notation decimal
    /// string (`-12.5`, `0.0001`; [`crate::decimal::Decimal`] guarantees the form). Its display
    /// scale is the number of digits after the point, so the column reads back as the same
    /// string.
    pub fn numeric(&mut self, decimal: &str) -> &mut Self {
        let (negative, digits) = match decimal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, decimal),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int = int.trim_start_matches('0');
        // Base-10000 groups, aligned on the decimal point: the integer part padded on the left,
        // the fraction on the right, to multiples of four digits.
        let int_groups = int.len().div_ceil(4);
        let frac_groups = frac.len().div_ceil(4);
        let mut groups: Vec<i16> = Vec::with_capacity(int_groups + frac_groups);
        let lead = int_groups * 4 - int.len();
        push_groups(&mut groups, int.as_bytes(), lead);
        push_groups(&mut groups, frac.as_bytes(), 0);
        let mut weight = int_groups as i32 - 1;
        // Leading zero groups move the weight; trailing ones are dropped.
        let leading = groups.iter().take_while(|g| **g == 0).count();
        groups.drain(..leading);
        weight -= leading as i32;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        let dscale = frac.len() as i16;
        let sign = if negative && !groups.is_empty() {
            NUMERIC_NEG
        } else {
            0
        };
        if groups.is_empty() {
            weight = 0;
        }
        let len = 8 + 2 * groups.len();
        self.buf.extend_from_slice(&(len as i32).to_be_bytes());
        self.buf
            .extend_from_slice(&(groups.len() as i16).to_be_bytes());
        self.buf.extend_from_slice(&(weight as i16).to_be_bytes());
        self.buf.extend_from_slice(&sign.to_be_bytes());
        self.buf.extend_from_slice(&dscale.to_be_bytes());
        for g in groups {
            self.buf.extend_from_slice(&g.to_be_bytes());
        }
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    /// The finished payload.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Appends `digits` (ASCII) as base-10000 groups, as if `lead` zeros stood before them and
/// enough zeros after them to fill the last group.
fn push_groups(groups: &mut Vec<i16>, digits: &[u8], lead: usize) {
    let mut group = 0i16;
    let mut n = lead;
    for d in digits {
        group = group * 10 + i16::from(d - b'0');
        n += 1;
        if n == 4 {
            groups.push(group);
            group = 0;
            n = 0;
        }
    }
    if n > 0 {
        for _ in n..4 {
            group *= 10;
        }
        groups.push(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numeric field of `s`: (ndigits, weight, sign, dscale, digits).
    fn numeric(s: &str) -> (i16, i16, u16, i16, Vec<i16>) {
        let mut w = CopyWriter::with_capacity(0);
        w.numeric(s);
        let b = &w.buf[HEADER.len()..];
        let len = i32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, b.len() - 4, "{s}: length field");
        let i16_at = |i: usize| i16::from_be_bytes(b[4 + i..6 + i].try_into().unwrap());
        let n = i16_at(0);
        let digits = (0..n as usize).map(|k| i16_at(8 + 2 * k)).collect();
        (n, i16_at(2), i16_at(4) as u16, i16_at(6), digits)
    }

    #[test]
    fn numerics_in_base_10000() {
        assert_eq!(numeric("0"), (0, 0, 0, 0, vec![]));
        assert_eq!(numeric("1"), (1, 0, 0, 0, vec![1]));
        assert_eq!(numeric("10000"), (1, 1, 0, 0, vec![1]));
        assert_eq!(numeric("12345.678"), (3, 1, 0, 3, vec![1, 2345, 6780]));
        assert_eq!(numeric("9999.9999"), (2, 0, 0, 4, vec![9999, 9999]));
        assert_eq!(numeric("0.0001"), (1, -1, 0, 4, vec![1]));
        assert_eq!(numeric("0.00001"), (1, -2, 0, 5, vec![1000]));
        assert_eq!(numeric("-0.5"), (1, -1, NUMERIC_NEG, 1, vec![5000]));
        assert_eq!(
            numeric("-58338.53"),
            (3, 1, NUMERIC_NEG, 2, vec![5, 8338, 5300])
        );
        assert_eq!(
            numeric("340256786836388081269117234195560700000"),
            (
                9,
                9,
                0,
                0,
                vec![340, 2567, 8683, 6388, 812, 6911, 7234, 1955, 6070]
            )
        );
    }

    #[test]
    fn rows_and_trailer() {
        let mut w = CopyWriter::with_capacity(64);
        w.row(2).text("ab").int8(-2);
        let b = w.finish();
        assert!(b.starts_with(b"PGCOPY\n\xff\r\n\0"));
        let body = &b[HEADER.len()..];
        assert_eq!(
            body,
            [
                &[0, 2][..],
                &[0, 0, 0, 2, b'a', b'b'],
                &[0, 0, 0, 8],
                &(-2i64).to_be_bytes(),
                &[0xff, 0xff],
            ]
            .concat()
        );
    }
}
