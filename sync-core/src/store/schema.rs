//! Schema evolution: what to change in a stored table so it fits the entity's metadata, and
//! which changes to refuse.
//!
//! Each store records the columns it created (name, type, nullability, role). At open it
//! compares that record with the entity and plans [`Step`]s: new fields become new columns;
//! a field that became optional is just recorded; a field that became required is allowed
//! only if no live row holds NULL there. A type change, a new required field without a
//! default on a table with live rows, or a changed id or `updated_at` column is refused with
//! an error that names the table, the column and the fix. A field removed from the entity
//! keeps its column, unwritten: nothing stored is ever dropped by evolution.

use crate::entity::{Column, Role};
use crate::error::{Error, Result};

/// A column as a store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedColumn {
    pub(crate) name: String,
    pub(crate) sql_type: String,
    pub(crate) nullable: bool,
    pub(crate) role: String,
}

impl RecordedColumn {
    pub(crate) fn of(column: &Column) -> RecordedColumn {
        RecordedColumn {
            name: column.name.to_owned(),
            sql_type: column.sql_type.name().to_owned(),
            nullable: column.nullable,
            role: role_name(column.role).to_owned(),
        }
    }
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Id => "id",
        Role::UpdatedAt => "updated_at",
        Role::Data => "data",
    }
}

/// One change to an existing table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// Add a column that is optional or has a default.
    AddColumn(&'a Column),
    /// Add a required column without a default: only while the table has no live row.
    AddRequiredColumn(&'a Column),
    /// A field became required: only while no live row holds NULL in it.
    RequireValues(&'a Column),
    /// A field became optional: only the record changes.
    Relax(&'a Column),
}

impl Step<'_> {
    pub(crate) fn column(&self) -> &Column {
        match self {
            Step::AddColumn(column)
            | Step::AddRequiredColumn(column)
            | Step::RequireValues(column)
            | Step::Relax(column) => column,
        }
    }
}

/// Plans the steps that bring `table`, recorded as `recorded`, to `columns`.
pub(crate) fn plan<'a>(
    table: &str,
    columns: &'a [Column],
    recorded: &[RecordedColumn],
) -> Result<Vec<Step<'a>>> {
    let mut steps = Vec::new();
    for column in columns {
        let wanted = RecordedColumn::of(column);
        let Some(found) = recorded.iter().find(|found| found.name == column.name) else {
            if column.role != Role::Data {
                return Err(refusal(
                    table,
                    column.name,
                    format!("the {} column is new", wanted.role),
                    "keep the field that was the entity's id or updated_at, or store the entity in a new table",
                ));
            }
            steps.push(if column.nullable || column.default.is_some() {
                Step::AddColumn(column)
            } else {
                Step::AddRequiredColumn(column)
            });
            continue;
        };
        if found.sql_type != wanted.sql_type {
            return Err(refusal(
                table,
                column.name,
                format!(
                    "its type changed from {} to {}",
                    found.sql_type, wanted.sql_type
                ),
                "keep the old type, or store the new type in a new field with its own column (#[sync(column = \"...\")])",
            ));
        }
        if found.role != wanted.role {
            return Err(refusal(
                table,
                column.name,
                format!("its role changed from {} to {}", found.role, wanted.role),
                "keep #[sync(id)] and #[sync(updated_at)] on the fields that had them",
            ));
        }
        match (found.nullable, wanted.nullable) {
            (true, false) if column.role == Role::Data => steps.push(Step::RequireValues(column)),
            (false, true) => steps.push(Step::Relax(column)),
            _ => {}
        }
    }
    Ok(steps)
}

pub(crate) fn refusal(table: &str, column: &str, problem: String, fix: &str) -> Error {
    Error::Schema {
        table: table.to_owned(),
        column: column.to_owned(),
        problem,
        fix: fix.to_owned(),
    }
}

/// The error for a required column without a default added to a table with live rows.
pub(crate) fn required_column_refusal(table: &str, column: &str, live_rows: i64) -> Error {
    refusal(
        table,
        column,
        format!("a new required column without a default, and the table has {live_rows} live rows"),
        "make the field an Option, or mark it #[sync(default)] so existing rows get Default::default()",
    )
}

/// The error for a field that became required while live rows hold NULL in it.
pub(crate) fn null_values_refusal(table: &str, column: &str, null_rows: i64) -> Error {
    refusal(
        table,
        column,
        format!("the field became required but {null_rows} live rows hold NULL"),
        "keep the field an Option, or fill those rows before making it required",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::SqlType;

    const fn column(name: &'static str, sql_type: SqlType, nullable: bool, role: Role) -> Column {
        Column {
            name,
            field: name,
            sql_type,
            nullable,
            role,
            indexed: false,
            default: None,
        }
    }

    const BASE: [Column; 3] = [
        column("id", SqlType::Text, false, Role::Id),
        column("name", SqlType::Text, false, Role::Data),
        column("updated_at", SqlType::Timestamp, true, Role::UpdatedAt),
    ];

    fn recorded(columns: &[Column]) -> Vec<RecordedColumn> {
        columns.iter().map(RecordedColumn::of).collect()
    }

    #[test]
    fn an_unchanged_entity_needs_no_step() {
        assert!(plan("t", &BASE, &recorded(&BASE)).unwrap().is_empty());
    }

    #[test]
    fn new_fields_become_columns() {
        let mut columns = BASE.to_vec();
        columns.push(column("note", SqlType::Text, true, Role::Data));
        columns.push(column("rank", SqlType::Int, false, Role::Data));
        let steps = plan("t", &columns, &recorded(&BASE)).unwrap();
        assert!(matches!(steps[0], Step::AddColumn(c) if c.name == "note"));
        assert!(matches!(steps[1], Step::AddRequiredColumn(c) if c.name == "rank"));
    }

    #[test]
    fn a_type_change_is_refused_naming_table_column_and_fix() {
        let mut columns = BASE.to_vec();
        columns[1].sql_type = SqlType::Int;
        let error = plan("accounts", &columns, &recorded(&BASE))
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"accounts\""), "{error}");
        assert!(error.contains("\"name\""), "{error}");
        assert!(error.contains("from text to int"), "{error}");
        assert!(error.contains("new field"), "{error}");
    }

    #[test]
    fn nullability_changes_are_planned_both_ways() {
        let mut columns = BASE.to_vec();
        columns[1].nullable = true;
        assert!(matches!(
            plan("t", &columns, &recorded(&BASE)).unwrap()[..],
            [Step::Relax(_)]
        ));
        assert!(matches!(
            plan("t", &BASE, &recorded(&columns)).unwrap()[..],
            [Step::RequireValues(_)]
        ));
    }

    #[test]
    fn a_removed_field_keeps_its_column() {
        let mut columns = BASE.to_vec();
        columns.remove(1);
        assert!(plan("t", &columns, &recorded(&BASE)).unwrap().is_empty());
    }

    #[test]
    fn moving_the_id_is_refused() {
        let mut columns = BASE.to_vec();
        columns[0].role = Role::Data;
        columns[1].role = Role::Id;
        assert!(matches!(
            plan("t", &columns, &recorded(&BASE)),
            Err(Error::Schema { .. })
        ));
    }
}
