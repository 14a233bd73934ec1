//! The `x-amz-date` stamp of a SigV4 signature, in its two forms. Parsing
//! listing times is the SDK's (`tributary_sdk::time`).

use tributary_sdk::time::UtcDateTime;

/// The instant a request is signed, in the two forms SigV4 uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate {
    /// `YYYYMMDD`, the credential scope's date.
    pub date: String,
    /// `YYYYMMDDTHHMMSSZ`, the `x-amz-date` header.
    pub date_time: String,
}

impl AmzDate {
    /// The current time.
    pub fn now() -> Self {
        Self::from_utc(UtcDateTime::now())
    }

    /// The instant `seconds` after the Unix epoch (the tests' fixed clock).
    #[cfg(test)]
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self::from_utc(UtcDateTime::from_unix_seconds(seconds))
    }

    fn from_utc(t: UtcDateTime) -> Self {
        let date = format!("{:04}{:02}{:02}", t.year, t.month, t.day);
        let date_time = format!("{date}T{:02}{:02}{:02}Z", t.hour, t.minute, t.second);
        Self { date, date_time }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_formats_utc() {
        // 2013-05-24T00:00:00Z, the date of AWS's S3 signing examples.
        let date = AmzDate::from_unix_seconds(1_369_353_600);
        assert_eq!(date.date, "20130524");
        assert_eq!(date.date_time, "20130524T000000Z");
        let date = AmzDate::from_unix_seconds(1_440_938_160);
        assert_eq!(date.date_time, "20150830T123600Z");
        assert_eq!(AmzDate::from_unix_seconds(0).date_time, "19700101T000000Z");
        assert_eq!(
            AmzDate::from_unix_seconds(951_825_599).date_time,
            "20000229T115959Z"
        );
        assert_eq!(AmzDate::now().date_time.len(), 16);
    }
}
