//! A small dynamic-SQL builder that numbers placeholders `$1, $2, ...`.
//!
//! sqlx's own `QueryBuilder` writes `?` placeholders when used through the `Any` driver, which
//! PostgreSQL rejects; `$n` is understood by both engines, so this builder writes those. It
//! only concatenates trusted SQL fragments and binds every value.
//!
//! Large statements (batch inserts, `IN` lists) are built with [`SqlBuilder::for_backend`],
//! which writes plain `?` on SQLite: sqlx-sqlite looks up every *named* parameter with
//! `sqlite3_bind_parameter_name`, a linear scan, so binding n `$k` parameters costs O(n²).
//! With 3,000 parameters that was two thirds of a 1,000-metric log-batch.

use std::fmt::Display;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Arguments, AssertSqlSafe, Encode, Type};
use trackway_core::search::{Clause, Comparator, Value};

/// SQL text plus its bound arguments.
#[derive(Default)]
pub(crate) struct SqlBuilder {
    sql: String,
    args: AnyArguments,
    count: usize,
    /// Anonymous `?` placeholders (SQLite only), so binds must follow the text order.
    positional: bool,
}

impl SqlBuilder {
    /// Starts with a fragment of SQL.
    pub(crate) fn new(init: impl Into<String>) -> Self {
        SqlBuilder {
            sql: init.into(),
            ..Default::default()
        }
    }

    /// Starts a builder whose placeholders suit `backend`: anonymous `?` on SQLite (every bind
    /// then follows the text order, so [`SqlBuilder::placeholder_for`] is not used with it),
    /// `$n` on PostgreSQL.
    pub(crate) fn for_backend(backend: crate::Backend, init: impl Into<String>) -> Self {
        SqlBuilder {
            sql: init.into(),
            positional: backend == crate::Backend::Sqlite,
            ..Default::default()
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        use std::fmt::Write as _;
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        self.bind(value);
        if self.positional {
            self.sql.push('?');
            return self;
        }
        let placeholder = format!("${}", self.count);
        self.push(placeholder)
    }

    /// Binds `value` and returns its placeholder without appending it, for expressions that are
    /// assembled before being pushed.
    pub(crate) fn placeholder_for<T>(&mut self, value: T) -> String
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        debug_assert!(
            !self.positional,
            "placeholder_for needs numbered placeholders"
        );
        self.bind(value);
        format!("${}", self.count)
    }

    /// Binds `value` to the next placeholder number without writing one, for SQL text that
    /// already holds its `$n` placeholders in bind order.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        // Encoding into `Any` only copies the value into a buffer; it cannot fail for the
        // scalar types the store binds.
        let _ = self.args.add(value);
        self.count += 1;
        self
    }

    /// Appends `$a, $b, ...` binding each item.
    pub(crate) fn push_bind_list<T, I>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(item);
        }
        self
    }

    /// Appends `(row), (row), ...` for a multi-row INSERT; `row` binds one item's columns.
    pub(crate) fn push_values<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i > 0 { ", (" } else { "(" });
            row(self, item);
            self.push(")");
        }
        self
    }

    /// Appends a separator-joined value for multi-column rows (`$1, $2` within one row).
    pub(crate) fn sep(&mut self) -> &mut Self {
        self.push(", ")
    }

    /// The finished query.
    pub(crate) fn build(self) -> Query<'static, Any, AnyArguments> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.args)
    }
}

/// Appends `column <op> value` for one filter clause; SQLite spells `ILIKE` with `LOWER`.
pub(crate) fn push_value_comparison(
    qb: &mut SqlBuilder,
    backend: crate::Backend,
    column: &str,
    clause: &Clause,
) {
    match (&clause.value, clause.comparator) {
        (Value::List(items), Comparator::In | Comparator::NotIn) => {
            qb.push(format!(" {column} {} (", clause.comparator.as_str()));
            qb.push_bind_list(items.iter().cloned());
            qb.push(")");
        }
        (Value::Str(s), Comparator::ILike) if backend == crate::Backend::Sqlite => {
            qb.push(format!(" LOWER({column}) LIKE LOWER("));
            qb.push_bind(s.clone());
            qb.push(")");
        }
        (Value::Str(s), comparator) => {
            qb.push(format!(" {column} {} ", comparator.as_str()));
            qb.push_bind(s.clone());
        }
        (Value::Number(n), comparator) => {
            qb.push(format!(" {column} {} ", comparator.as_str()));
            qb.push_bind(*n);
        }
        _ => {
            qb.push(" FALSE");
        }
    }
}
