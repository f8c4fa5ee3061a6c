use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens (RFC 6749 §3.3), kept sorted so equal sets compare and print the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn parse(s: &str) -> Self {
        ScopeSet(
            s.split(' ')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
        )
    }
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }
    pub fn insert(&mut self, scope: &str) {
        self.0.insert(scope.to_string());
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}
