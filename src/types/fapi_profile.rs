use serde::{Deserialize, Serialize};

/// The FAPI security profile a client (or the whole provider) runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum FapiProfile {
    /// FAPI 1.0 Advanced (final).
    Fapi1Advanced,
    /// FAPI 2.0 Security Profile (and Message Signing when requests are signed).
    Fapi2,
}

impl FapiProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            FapiProfile::Fapi1Advanced => "fapi1_advanced",
            FapiProfile::Fapi2 => "fapi2",
        }
    }

    pub fn parse(s: &str) -> Option<FapiProfile> {
        match s {
            "fapi1_advanced" => Some(FapiProfile::Fapi1Advanced),
            "fapi2" => Some(FapiProfile::Fapi2),
            _ => None,
        }
    }
}

impl TryFrom<String> for FapiProfile {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        FapiProfile::parse(&s)
            .ok_or_else(|| format!("fapi_profile {s}: use fapi1_advanced or fapi2"))
    }
}

impl From<FapiProfile> for &'static str {
    fn from(p: FapiProfile) -> &'static str {
        p.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_unknown_ones_are_refused() {
        for p in [FapiProfile::Fapi1Advanced, FapiProfile::Fapi2] {
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, p.as_str());
            assert_eq!(serde_json::from_value::<FapiProfile>(json).unwrap(), p);
        }
        let e = serde_json::from_value::<FapiProfile>("fapi1".into()).unwrap_err();
        assert!(e.to_string().contains("use fapi1_advanced or fapi2"), "{e}");
    }
}
