//! A small SQL writer for the hot paths of [`super::hours`]: positional parameters in the
//! backend's syntax, decimals cast to `NUMERIC` on PostgreSQL (SQLite keeps them as text).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// Builds SQL with positional parameters in the backend's syntax, casting decimals to `NUMERIC`
/// on PostgreSQL (SQLite keeps them as text).
pub(crate) struct SqlBuilder {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl SqlBuilder {
    pub(crate) fn new(backend: DbBackend) -> Self {
        SqlBuilder {
            backend,
            sql: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    /// The backend the SQL is for.
    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Appends literal SQL.
    pub(crate) fn sql(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Appends a parameter placeholder bound to `v`.
    pub(crate) fn param(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
            _ => self.sql.push('?'),
        }
        self
    }

    /// Appends a parameter holding an exact decimal.
    pub(crate) fn decimal(&mut self, v: &str) -> &mut Self {
        if self.backend == DbBackend::Postgres {
            self.sql.push_str("CAST(");
            self.param(v.to_owned());
            self.sql.push_str(" AS NUMERIC)");
        } else {
            self.param(v.to_owned());
        }
        self
    }

    /// The operator that is true when two values differ, NULLs included.
    pub(crate) fn distinct_op(&self) -> &'static str {
        match self.backend {
            DbBackend::Sqlite => " IS NOT ",
            _ => " IS DISTINCT FROM ",
        }
    }

    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
}

/// Runs a statement built by [`SqlBuilder`] and returns the number of rows it changed.
pub(crate) async fn execute(conn: &impl ConnectionTrait, b: SqlBuilder) -> Result<u64, DbErr> {
    Ok(conn.execute_raw(b.build()).await?.rows_affected())
}
