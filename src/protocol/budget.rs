//! Grant budgets (the Alby seed's "payments on your behalf with a monthly budget"): a grant
//! may carry at most `limit` calls, or an amount in minor units, per UTC calendar period. The
//! client asks for one at authorization (`budget`), the user sees it on the consent page, the
//! partner may change it through the REST API; the gateway spends from it before it forwards
//! a request to a route with a cost rule, in one conditional UPDATE (`tx.budgets().spend`).

use crate::config::gateway::Route;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::store::budgets::BudgetRow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const DAY: i64 = 86_400;
/// The largest limit accepted: far beyond any real budget, far below overflow.
const MAX_LIMIT: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Requests to routes with a cost rule (`cost` each; 1 for a `cost_from` route).
    Calls,
    /// Amounts read from request bodies (`cost_from`), in the currency's minor units.
    Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    /// ISO weeks: from Monday 00:00 UTC.
    Week,
    Month,
    /// Never resets.
    None,
}

/// A budget as the client asks for it and the partner sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub limit: i64,
    pub unit: Unit,
    pub period: Period,
    /// ISO 4217 code; required for (and only for) an `amount` budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Budget {
    /// The `budget` authorization request parameter (a JSON object; a request object's member
    /// arrives serialised) or a partner's body.
    pub fn parse(text: &str) -> OAuthResult<Budget> {
        let v: Value = serde_json::from_str(text)
            .map_err(|_| OAuthError::invalid_request("budget must be a JSON object"))?;
        Budget::from_value(&v)
    }

    pub fn from_value(v: &Value) -> OAuthResult<Budget> {
        let bad = |why: &str| OAuthError::invalid_request(format!("budget: {why}"));
        if !v.is_object() {
            return Err(bad("must be a JSON object"));
        }
        let b: Budget = serde_json::from_value(v.clone()).map_err(|_| {
            bad("takes limit (a non-negative integer), unit (calls or amount), period (day, week, month or none) and, for amounts, currency")
        })?;
        if !(0..=MAX_LIMIT).contains(&b.limit) {
            return Err(bad("limit must be a non-negative integer"));
        }
        match (&b.unit, &b.currency) {
            (Unit::Amount, Some(c))
                if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {}
            (Unit::Amount, _) => return Err(bad("an amount budget needs an ISO 4217 currency")),
            (Unit::Calls, Some(_)) => return Err(bad("a calls budget has no currency")),
            (Unit::Calls, None) => {}
        }
        Ok(b)
    }

    /// In words, for the consent page: "up to £100.00 per month", "up to 500 calls per day".
    pub fn describe(&self) -> String {
        let how_much = match (self.unit, &self.currency) {
            (Unit::Amount, Some(c)) => money(self.limit, c),
            _ if self.limit == 1 => "1 call".to_string(),
            _ => format!("{} calls", self.limit),
        };
        let per = match self.period {
            Period::Day => " per day",
            Period::Week => " per week",
            Period::Month => " per month",
            Period::None => " in all",
        };
        format!("up to {how_much}{per}")
    }
}

/// Minor units as money: £100.00, €5.50, 1,000 JPY-style codes for others.
fn money(minor: i64, currency: &str) -> String {
    let (symbol, decimals) = match currency {
        "GBP" => ("£", 2),
        "EUR" => ("€", 2),
        "USD" => ("$", 2),
        "JPY" => ("¥", 0),
        _ => ("", 2),
    };
    let amount = if decimals == 0 {
        minor.to_string()
    } else {
        format!("{}.{:02}", minor / 100, minor % 100)
    };
    if symbol.is_empty() {
        format!("{amount} {currency}")
    } else {
        format!("{symbol}{amount}")
    }
}

impl Period {
    /// When the period holding `now` began (UTC calendar).
    pub fn start(self, now: i64) -> i64 {
        let day = now.div_euclid(DAY);
        match self {
            Period::Day => day * DAY,
            // 1970-01-01 was a Thursday: Monday is 3 days before it.
            Period::Week => (day - (day + 3).rem_euclid(7)) * DAY,
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY
            }
            Period::None => 0,
        }
    }

    /// When the period that began at `start` ends (none for a budget that never resets).
    pub fn end(self, start: i64) -> Option<i64> {
        match self {
            Period::Day => Some(start + DAY),
            Period::Week => Some(start + 7 * DAY),
            Period::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Some(days_from_civil(y, m, 1) * DAY)
            }
            Period::None => None,
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a request to a route costs, before any budget is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// The route has no cost rule: nothing is spent.
    Free,
    /// A fixed number of calls (`cost = N`).
    Calls(i64),
    /// An amount read from the body (`cost_from`): one call, and this many minor units.
    Amount(i64),
}

impl Cost {
    /// What this cost takes from a budget of `unit`: a calls budget counts calls, an amount
    /// budget counts amounts (a fixed-cost route takes nothing from it).
    fn in_unit(self, unit: Unit) -> i64 {
        match (self, unit) {
            (Cost::Free, _) => 0,
            (Cost::Calls(n), Unit::Calls) => n,
            (Cost::Calls(_), Unit::Amount) => 0,
            (Cost::Amount(_), Unit::Calls) => 1,
            (Cost::Amount(a), Unit::Amount) => a,
        }
    }
}

/// The route's cost for a request with `body`. For `cost_from`, the body must be JSON with a
/// non-negative integer (minor units) at the pointer (RFC 6901): else `invalid_request`.
pub fn cost_of(route: &Route, body: &[u8]) -> OAuthResult<Cost> {
    if let Some(pointer) = &route.cost_from {
        let v: Value = serde_json::from_slice(body).map_err(|_| {
            OAuthError::invalid_request(format!(
                "this route spends from a budget: the body must be JSON with an amount at {pointer}"
            ))
        })?;
        let amount = v
            .pointer(pointer)
            .and_then(Value::as_i64)
            // Above the largest limit an amount can never fit, and would overflow the sum.
            .filter(|a| (0..=MAX_LIMIT).contains(a))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "the amount at {pointer} must be an integer from 0 to {MAX_LIMIT} in minor units"
                ))
            })?;
        return Ok(Cost::Amount(amount));
    }
    Ok(route.cost.map_or(Cost::Free, Cost::Calls))
}

/// A stored budget and what its period has spent.
pub struct Standing {
    pub budget: Budget,
    pub period_start: i64,
    pub spent: i64,
}

impl Standing {
    /// A stored row; `None` if it names a unit or period this version does not know.
    pub fn of(row: BudgetRow) -> Option<Standing> {
        let word = |w: &str| Value::String(w.to_string());
        Some(Standing {
            budget: Budget {
                limit: row.limit,
                unit: serde_json::from_value(word(&row.unit)).ok()?,
                period: serde_json::from_value(word(&row.period)).ok()?,
                currency: row.currency,
            },
            period_start: row.period_start,
            spent: row.spent,
        })
    }
}

impl Budget {
    /// The row that sets this budget on a grant, starting the current period at zero.
    pub fn row(&self, grant_id: &str, now: i64) -> BudgetRow {
        let word = |v: Value| v.as_str().unwrap_or_default().to_string();
        BudgetRow {
            grant_id: grant_id.to_string(),
            limit: self.limit,
            unit: word(json!(self.unit)),
            period: word(json!(self.period)),
            currency: self.currency.clone(),
            period_start: self.period.start(now),
            spent: 0,
        }
    }
}

/// What spending found.
enum Spend {
    Spent,
    NoBudget,
    Exhausted,
}

/// Spends `cost` from the grant's budget for the current period, in one conditional UPDATE.
/// A grant with no budget, or a free route, spends nothing. Over budget is 403
/// `insufficient_budget`, and nothing is spent.
pub async fn spend(cx: &Ctx<'_>, grant_id: Option<&str>, cost: Cost) -> OAuthResult<()> {
    let Some(grant_id) = grant_id.map(str::to_string) else {
        return Ok(());
    };
    if cost == Cost::Free {
        return Ok(());
    }
    let now = cx.now;
    let spent = cx
        .store
        .write(move |tx| {
            let budgets = tx.budgets();
            let Some(b) = budgets.get(&grant_id)?.and_then(Standing::of) else {
                return Ok(Spend::NoBudget);
            };
            let amount = cost.in_unit(b.budget.unit);
            if amount == 0 {
                return Ok(Spend::Spent);
            }
            let period_start = b.budget.period.start(now);
            Ok(if budgets.spend(&grant_id, amount, period_start, now)? {
                Spend::Spent
            } else {
                Spend::Exhausted
            })
        })
        .await?;
    match spent {
        Spend::Spent | Spend::NoBudget => Ok(()),
        Spend::Exhausted => Err(OAuthError::insufficient_budget(
            "the grant's budget for this period has no room for this request",
        )),
    }
}

/// The budget with its current period's standing, as introspection and the partner API show
/// it: `{limit, unit, period, currency?, spent, remaining, period_ends_at}`.
pub fn view(b: &Standing, now: i64) -> Value {
    let start = b.budget.period.start(now);
    // A period that has rolled over has spent nothing yet.
    let spent = if b.period_start >= start { b.spent } else { 0 };
    let mut out = json!({
        "limit": b.budget.limit,
        "unit": b.budget.unit,
        "period": b.budget.period,
        "spent": spent,
        "remaining": (b.budget.limit - spent).max(0),
        "period_ends_at": b.budget.period.end(start),
    });
    if let Some(c) = &b.budget.currency {
        out["currency"] = json!(c);
    }
    out
}

/// The budget of a grant, as [`view`] shows it.
pub async fn read(cx: &Ctx<'_>, grant_id: &str) -> OAuthResult<Option<Value>> {
    let id = grant_id.to_string();
    let now = cx.now;
    let found = cx.store.read(move |tx| tx.budgets().get(&id)).await?;
    Ok(found.and_then(Standing::of).map(|b| view(&b, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-06 21:46:44 UTC, a Sunday.
    const NOW: i64 = 1_796_593_604;

    #[test]
    fn periods_start_on_the_utc_calendar() {
        assert_eq!(Period::Day.start(NOW), 1_796_515_200); // 2026-12-06
        assert_eq!(Period::Week.start(NOW), 1_796_515_200 - 6 * DAY); // Monday 2026-11-30
        assert_eq!(Period::Month.start(NOW), 1_796_083_200); // 2026-12-01
        assert_eq!(Period::Month.end(1_796_083_200), Some(1_798_761_600)); // 2027-01-01
        assert_eq!(Period::None.start(NOW), 0);
        assert_eq!(Period::None.end(0), None);
        // February of a leap year.
        let feb = days_from_civil(2028, 2, 1) * DAY;
        assert_eq!(
            Period::Month.end(feb),
            Some(days_from_civil(2028, 3, 1) * DAY)
        );
        assert_eq!(Period::Month.start(feb + 28 * DAY), feb);
    }

    #[test]
    fn budgets_are_described_in_words() {
        let b =
            Budget::parse(r#"{"limit":10000,"unit":"amount","period":"month","currency":"GBP"}"#)
                .unwrap();
        assert_eq!(b.describe(), "up to £100.00 per month");
        let b = Budget::parse(r#"{"limit":500,"unit":"calls","period":"day"}"#).unwrap();
        assert_eq!(b.describe(), "up to 500 calls per day");
    }

    #[test]
    fn each_unit_counts_what_it_names() {
        assert_eq!(Cost::Calls(2).in_unit(Unit::Calls), 2);
        assert_eq!(Cost::Calls(2).in_unit(Unit::Amount), 0);
        assert_eq!(Cost::Amount(500).in_unit(Unit::Calls), 1);
        assert_eq!(Cost::Amount(500).in_unit(Unit::Amount), 500);
        assert_eq!(Cost::Free.in_unit(Unit::Calls), 0);
    }

    #[test]
    fn amounts_must_be_integers_a_limit_can_hold() {
        let route = Route {
            method: "POST".into(),
            path: "/payments".into(),
            scopes: vec![],
            upstream: "https://api.example.com".into(),
            cost: None,
            cost_from: Some("/amount".into()),
            websocket: false,
        };
        assert!(matches!(
            cost_of(&route, br#"{"amount":500}"#),
            Ok(Cost::Amount(500))
        ));
        for bad in [
            r#"{"amount":-1}"#,
            r#"{"amount":1.5}"#,
            r#"{"amount":"500"}"#,
            r#"{"amount":9223372036854775807}"#,
            r#"{}"#,
            "not json",
        ] {
            assert!(cost_of(&route, bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_budgets_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"limit":-1,"unit":"calls","period":"day"}"#,
            r#"{"limit":1.5,"unit":"calls","period":"day"}"#,
            r#"{"limit":1,"unit":"sats","period":"day"}"#,
            r#"{"limit":1,"unit":"calls","period":"year"}"#,
            r#"{"limit":1,"unit":"amount","period":"day"}"#,
            r#"{"limit":1,"unit":"amount","period":"day","currency":"gbp"}"#,
            r#"{"limit":1,"unit":"calls","period":"day","currency":"GBP"}"#,
            r#"{"limit":1,"unit":"calls","period":"day","extra":1}"#,
        ] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
    }
}
