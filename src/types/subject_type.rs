use serde::{Deserialize, Serialize};

/// How a client knows its users (OIDC Core §8; the `subject_types_supported` discovery
/// offers): by the user id itself, or by a pairwise value per sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum SubjectType {
    Public,
    Pairwise,
}

impl SubjectType {
    /// The refusal registration answers for any other value (OIDC Registration §2).
    pub const UNSUPPORTED: &'static str =
        "subject_type must be public or pairwise (subject_types_supported; OIDC Registration section 2)";

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Public => "public",
            SubjectType::Pairwise => "pairwise",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectType> {
        match s {
            "public" => Some(SubjectType::Public),
            "pairwise" => Some(SubjectType::Pairwise),
            _ => None,
        }
    }
}

impl TryFrom<String> for SubjectType {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, &'static str> {
        SubjectType::parse(&s).ok_or(SubjectType::UNSUPPORTED)
    }
}

impl From<SubjectType> for &'static str {
    fn from(t: SubjectType) -> &'static str {
        t.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for t in [SubjectType::Public, SubjectType::Pairwise] {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
            assert_eq!(serde_json::from_value::<SubjectType>(json).unwrap(), t);
        }
        let e = serde_json::from_value::<SubjectType>("per_sector".into()).unwrap_err();
        assert!(e.to_string().contains("must be public or pairwise"), "{e}");
    }
}
