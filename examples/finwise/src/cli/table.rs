//! Plain text tables: a header row and columns padded to their widest cell.

/// A table being filled.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, every column aligned left.
    pub(crate) fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            right: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Aligns column `index` to the right (for numbers).
    pub(crate) fn right(mut self, index: usize) -> Table {
        if let Some(right) = self.right.get_mut(index) {
            *right = true;
        }
        self
    }

    /// Adds a row of cells, one per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines of text, each ending in a newline, without trailing spaces.
    pub(crate) fn render(&self) -> String {
        let width = |column: usize| {
            self.rows
                .iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .chain([self.headers[column].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let headers = self
            .headers
            .iter()
            .map(|header| (*header).to_owned())
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                let cell = row.get(column).map_or("", String::as_str);
                if column > 0 {
                    line.push_str("  ");
                }
                let padding = " ".repeat(width.saturating_sub(cell.chars().count()));
                if self.right[column] {
                    line.push_str(&padding);
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&padding);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_and_aligns_numbers() {
        let mut table = Table::new(&["NAME", "BALANCE", "NOTE"]).right(1);
        table.row(vec!["Giro".into(), "1200.00".into(), String::new()]);
        table.row(vec!["Bargeld".into(), "5.50".into(), "cash".into()]);
        assert_eq!(
            table.render(),
            "NAME     BALANCE  NOTE\n\
             Giro     1200.00\n\
             Bargeld     5.50  cash\n"
        );
    }
}
