//! Name conversions: serde's `rename_all` rules, applied to field names to find the JSON key
//! of `updated_at`, and the default table and collection name of a struct.

/// A serde `rename_all` rule, as serde applies it to field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    /// `lowercase`.
    Lower,
    /// `UPPERCASE`.
    Upper,
    /// `PascalCase`.
    Pascal,
    /// `camelCase`.
    Camel,
    /// `snake_case`.
    Snake,
    /// `SCREAMING_SNAKE_CASE`.
    ScreamingSnake,
    /// `kebab-case`.
    Kebab,
    /// `SCREAMING-KEBAB-CASE`.
    ScreamingKebab,
}

impl RenameRule {
    /// The rule serde names `name`, if it is one.
    pub(crate) fn from_name(name: &str) -> Option<RenameRule> {
        Some(match name {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// Renames a snake_case Rust field name exactly as serde does.
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => {
                let mut pascal = String::with_capacity(field.len());
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                pascal
            }
            RenameRule::Camel => {
                let pascal = RenameRule::Pascal.apply_to_field(field);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => pascal,
                }
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }
}

/// The default table and collection of a struct: its name in snake_case, the last word
/// pluralised (`AccountGroup` → `account_groups`, `Category` → `categories`).
pub(crate) fn default_table(struct_name: &str) -> String {
    let words = split_words(struct_name);
    let Some((last, rest)) = words.split_last() else {
        return String::new();
    };
    let mut words: Vec<String> = rest.iter().map(|word| word.to_lowercase()).collect();
    words.push(pluralize(&last.to_lowercase()));
    words.join("_")
}

/// Splits an identifier into words at underscores, at lower-to-upper case changes
/// (`accountGroup`), and before the last capital of an acronym (`HTTPRequest`).
fn split_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (index, &ch) in chars.iter().enumerate() {
        if ch == '_' {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1).copied();
        let boundary = ch.is_uppercase()
            && !word.is_empty()
            && (previous.is_some_and(|p| p.is_lowercase() || p.is_numeric())
                || (previous.is_some_and(char::is_uppercase)
                    && next.is_some_and(char::is_lowercase)));
        if boundary {
            words.push(std::mem::take(&mut word));
        }
        word.push(ch);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The English plural of a lowercase word, by the regular rules: a consonant then `y` becomes
/// `ies`; `s`, `x`, `z`, `ch` and `sh` take `es`; anything else takes `s`.
fn pluralize(word: &str) -> String {
    if let Some(stem) = word.strip_suffix('y')
        && stem.chars().last().is_some_and(|ch| !"aeiou".contains(ch))
    {
        return format!("{stem}ies");
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|suffix| word.ends_with(suffix))
    {
        return format!("{word}es");
    }
    format!("{word}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tables_are_snake_case_plurals() {
        let cases = [
            ("Account", "accounts"),
            ("AccountGroup", "account_groups"),
            ("Category", "categories"),
            ("Day", "days"),
            ("Box", "boxes"),
            ("Bus", "buses"),
            ("Batch", "batches"),
            ("Wish", "wishes"),
            ("Quiz", "quizes"),
            ("Address", "addresses"),
            ("RecurringTransaction", "recurring_transactions"),
            ("HTTPRequest", "http_requests"),
            ("Budget2024Entry", "budget2024_entries"),
            ("snake_case", "snake_cases"),
            ("Y", "ys"),
        ];
        for (name, table) in cases {
            assert_eq!(default_table(name), table, "{name}");
        }
    }

    #[test]
    fn rename_rules_match_serde() {
        let field = "updated_at";
        let cases = [
            ("lowercase", "updated_at"),
            ("UPPERCASE", "UPDATED_AT"),
            ("PascalCase", "UpdatedAt"),
            ("camelCase", "updatedAt"),
            ("snake_case", "updated_at"),
            ("SCREAMING_SNAKE_CASE", "UPDATED_AT"),
            ("kebab-case", "updated-at"),
            ("SCREAMING-KEBAB-CASE", "UPDATED-AT"),
        ];
        for (rule, expected) in cases {
            let rule = RenameRule::from_name(rule).unwrap();
            assert_eq!(rule.apply_to_field(field), expected, "{rule:?}");
        }
        assert_eq!(RenameRule::Camel.apply_to_field("version"), "version");
        assert_eq!(RenameRule::Camel.apply_to_field(""), "");
        assert_eq!(RenameRule::from_name("Title Case"), None);
    }
}
