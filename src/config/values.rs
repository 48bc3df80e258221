//! Parsing single option values: durations, addresses to listen on, origins, comma-separated
//! lists, database URLs — each refused with a message that names the value and says what to
//! write instead (and never echoes a secret).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::domain::Backfill;

/// Parses `90s`, `5m`, `3h`, `7d`, `2w` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{s:?} is not a duration: write a whole number and a unit s, m, h, d or w (90s, 5m, 3h, 7d)")
    };
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = s.split_at(unit_at);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is longer than 100 years"))
}

impl FromStr for Backfill {
    type Err = String;
    /// A duration (`7d`, `400d`) or a date (`2024-01-01`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Backfill::Since(date));
        }
        parse_duration(s).map(Backfill::Duration).map_err(|_| {
            format!("{s:?} is neither a duration (7d, 400d, 12h) nor a date (2024-01-01)")
        })
    }
}

/// Like [`parse_duration`], refusing zero (a zero interval or timeout cannot work).
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?} must be longer than zero")),
        d => Ok(d),
    }
}

/// An address to listen on: an IP address and a port.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!(
            "{s:?} is not an address to listen on: write IP:PORT, such as 127.0.0.1:8000, \
             0.0.0.0:8000 or [::1]:8000 (not a host name)"
        )
    })
}

/// A limit that 0 would turn into "refuse everything".
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// A CORS origin: `*`, or `http(s)://host[:port]` with no path.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s == "*"
        || ["http://", "https://"].iter().any(|scheme| {
            s.strip_prefix(scheme).is_some_and(|host| {
                !host.is_empty() && !host.contains(['/', ' ', '?', '#', '*']) && host.is_ascii()
            })
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not an origin: write * or scheme://host[:port], e.g. https://app.example.com"
        ))
    }
}

/// A comma-separated list. Empty entries are skipped, so `TOKENS=` (set but empty) or a trailing
/// comma mean what they look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<T: FromStr<Err = String>> FromStr for List<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(T::from_str)
            .collect::<Result<Vec<T>, String>>()
            .map(List)
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

/// A value parser for options that may hold a secret (a database password, an API key in an
/// upstream URL): clap's own "invalid value '…'" error would echo the whole value, so the error
/// is only the type's message, which redacts what it shows.
#[derive(Clone)]
pub struct NoEcho<T>(std::marker::PhantomData<fn() -> T>);

impl<T> NoEcho<T> {
    pub fn new() -> Self {
        NoEcho(std::marker::PhantomData)
    }
}

impl<T> Default for NoEcho<T> {
    fn default() -> Self {
        NoEcho::new()
    }
}

impl<T> clap::builder::TypedValueParser for NoEcho<T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        use clap::error::ErrorKind;
        let name = arg.map_or_else(|| "the value".to_owned(), |a| format!("'{a}'"));
        let Some(text) = value.to_str() else {
            let msg = format!("invalid value for {name}: not UTF-8\n");
            return Err(clap::Error::raw(ErrorKind::InvalidUtf8, msg).with_cmd(cmd));
        };
        text.parse().map_err(|e: String| {
            let msg = format!("invalid value for {name}: {e}\n");
            clap::Error::raw(ErrorKind::ValueValidation, msg).with_cmd(cmd)
        })
    }
}

/// A database URL whose scheme tokenmirror supports.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as given (with its password: never log this).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = if let Some(rest) = s.strip_prefix("sqlite:") {
            !rest.trim_start_matches('/').is_empty()
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // The driver parses it as a URL: a port out of range or not a number is refused
            // here, as a configuration error, rather than when the database is opened.
            url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
        } else {
            false
        };
        if ok {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a database URL: use sqlite://PATH?mode=rwc or postgres://USER@HOST:PORT/DB",
                redact_password(s)
            ))
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_password(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

/// The URL with its password replaced by `***` (a URL that does not parse is shown as `***`
/// after its scheme, since it may hold anything).
pub fn redact_password(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            // Only URLs that cannot have a password refuse one.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => s.to_owned(),
        Err(_) => match s.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None if s.starts_with("sqlite:") => s.to_owned(),
            None => "***".to_owned(),
        },
    }
}

/// `scheme://host[:port]` of a URL, with `/…` for any path or query: an upstream URL may carry
/// an API key anywhere after the host (The Graph's `/api/<key>/…`, `?api_key=`), so logs,
/// errors and `syncStatus` show only where it points.
pub fn origin_only(s: &str) -> String {
    let Ok(u) = url::Url::parse(s) else {
        return "***".to_owned();
    };
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return "***".to_owned(),
    };
    let elided = if u.path() == "/" && u.query().is_none() && u.fragment().is_none() {
        if s.ends_with('/') {
            "/"
        } else {
            ""
        }
    } else {
        "/…"
    };
    format!("{}://{host}{elided}", u.scheme())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("3h").unwrap(), Duration::from_secs(10_800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "-1h",
            "1.5h",
            "1h30m",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn backfill_is_a_duration_or_a_date() {
        assert_eq!(
            "1d".parse::<Backfill>().unwrap(),
            Backfill::Duration(Duration::from_secs(86_400))
        );
        assert!(matches!(
            "2024-01-01".parse::<Backfill>(),
            Ok(Backfill::Since(_))
        ));
        assert!("2024-13-01".parse::<Backfill>().is_err());
    }

    #[test]
    fn database_urls() {
        for ok in [
            "sqlite://tokenmirror.db?mode=rwc",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@h/db",
        ] {
            assert!(ok.parse::<DatabaseUrl>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "mysql://x",
            "postgres://",
            "tokenmirror.db",
            "sqlite:",
            "postgres://u@127.0.0.1:99999/x",
            "postgres://u@127.0.0.1:abc/x",
        ] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad}");
        }
        let err = "mysql://u:secret@h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        let err = "postgres://u:secret@h:notaport/db"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        let url: DatabaseUrl = "postgres://u:secret@h:5432/db".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@h:5432/db");
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn shown_urls_keep_no_secrets() {
        for (url, shown) in [
            ("http://127.0.0.1:8001/", "http://127.0.0.1:8001/"),
            ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
            (
                "https://gateway.thegraph.com/api/SECRET/subgraphs/id/x",
                "https://gateway.thegraph.com/…",
            ),
            (
                "https://h.example/graphql?api_key=SECRET",
                "https://h.example/…",
            ),
            ("https://h.example/?api_key=SECRET", "https://h.example/…"),
            ("https://user:SECRET@h.example", "https://h.example"),
            ("not a url SECRET", "***"),
        ] {
            assert_eq!(origin_only(url), shown, "{url}");
        }
    }
}
