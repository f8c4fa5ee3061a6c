//! Grant budgets (`tx.budgets()`): a limit per period, and what the current period has spent.
//! Spending is one conditional UPDATE, so concurrent requests on any node never overspend.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// A grant's budget as stored; `unit` and `period` are the protocol layer's names.
#[derive(Debug, Clone)]
pub struct BudgetRow {
    pub grant_id: String,
    pub limit: i64,
    pub unit: String,
    pub period: String,
    pub currency: Option<String>,
    /// The start of the period `spent` counts.
    pub period_start: i64,
    pub spent: i64,
}

pub struct Budgets<'a> {
    pub(super) conn: Conn<'a>,
}

impl Budgets<'_> {
    pub fn get(&self, grant_id: &str) -> StoreResult<Option<BudgetRow>> {
        self.conn.query_opt(
            "SELECT grant_id, budget_limit, unit, period, currency, period_start, spent
             FROM grant_budgets WHERE grant_id = ?1",
            args![grant_id],
            |r| {
                Ok(BudgetRow {
                    grant_id: r.get(0)?,
                    limit: r.get(1)?,
                    unit: r.get(2)?,
                    period: r.get(3)?,
                    currency: r.get(4)?,
                    period_start: r.get(5)?,
                    spent: r.get(6)?,
                })
            },
        )
    }

    /// Sets (or replaces) a grant's budget. What the current period spent is kept when the
    /// unit and period stay the same, so a new limit cannot be used to start afresh.
    pub fn set(&self, b: &BudgetRow, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO grant_budgets (grant_id, budget_limit, unit, period, currency, period_start, spent, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (grant_id) DO UPDATE SET
               budget_limit = excluded.budget_limit, currency = excluded.currency, updated_at = excluded.updated_at,
               spent = CASE WHEN grant_budgets.unit = excluded.unit AND grant_budgets.period = excluded.period
                            THEN grant_budgets.spent ELSE excluded.spent END,
               period_start = CASE WHEN grant_budgets.unit = excluded.unit AND grant_budgets.period = excluded.period
                            THEN grant_budgets.period_start ELSE excluded.period_start END,
               unit = excluded.unit, period = excluded.period",
            args![b.grant_id, b.limit, b.unit, b.period, b.currency, b.period_start, b.spent, now],
        )?;
        Ok(())
    }

    /// Removes a grant's budget; whether it had one.
    pub fn remove(&self, grant_id: &str) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "DELETE FROM grant_budgets WHERE grant_id = ?1",
            args![grant_id],
        )? == 1)
    }

    /// Spends `amount` in the period starting at `period_start` if it fits under the limit: a
    /// period later than the stored one starts from zero. One statement, so two nodes spending
    /// at once are serialised by the row lock. Whether it was spent.
    pub fn spend(
        &self,
        grant_id: &str,
        amount: i64,
        period_start: i64,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE grant_budgets SET
               spent = CASE WHEN period_start >= ?3 THEN spent + ?2 ELSE ?2 END,
               period_start = CASE WHEN period_start >= ?3 THEN period_start ELSE ?3 END,
               updated_at = ?4
             WHERE grant_id = ?1
               AND (CASE WHEN period_start >= ?3 THEN spent ELSE 0 END) + ?2 <= budget_limit",
            args![grant_id, amount, period_start, now],
        )? == 1)
    }
}
