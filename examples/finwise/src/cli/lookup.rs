//! Finding an entity named on the command line: by its id, a unique prefix of its id, or
//! (where names are allowed) its name.

use super::error::{Error, Result};

/// What is looked for, for messages: e.g. `account`, and where to see the candidates.
pub(crate) struct Kind {
    pub(crate) what: &'static str,
    pub(crate) hint: &'static str,
}

/// The item whose id is `query`; else whose name is `query` (ignoring case), when `name`
/// is given; else whose id starts with `query`. More than one match is an error, as is
/// none.
pub(crate) fn find<'a, T>(
    items: &'a [T],
    query: &str,
    kind: &Kind,
    id: fn(&T) -> &str,
    name: Option<fn(&T) -> &str>,
) -> Result<&'a T> {
    let query = query.trim();
    if let Some(item) = items.iter().find(|item| id(item) == query) {
        return Ok(item);
    }
    let unique = |matches: Vec<&'a T>| match matches.as_slice() {
        [] => Ok(None),
        [item] => Ok(Some(*item)),
        _ => Err(Error::Ambiguous {
            what: kind.what,
            query: query.to_owned(),
            count: matches.len(),
        }),
    };
    if let Some(name) = name {
        let by_name = items
            .iter()
            .filter(|item| name(item).eq_ignore_ascii_case(query))
            .collect();
        if let Some(item) = unique(by_name)? {
            return Ok(item);
        }
    }
    let by_prefix = if query.is_empty() {
        Vec::new()
    } else {
        items
            .iter()
            .filter(|item| id(item).starts_with(query))
            .collect()
    };
    unique(by_prefix)?.ok_or_else(|| Error::NotFound {
        what: kind.what,
        query: query.to_owned(),
        hint: kind.hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const THING: Kind = Kind {
        what: "thing",
        hint: "",
    };

    fn find_in<'a>(items: &'a [(&'a str, &'a str)], query: &str) -> Result<&'a str> {
        find(items, query, &THING, |item| item.0, Some(|item| item.1)).map(|item| item.0)
    }

    #[test]
    fn ids_names_and_prefixes() {
        let items = [("abc1", "Giro"), ("abd2", "Cash"), ("x", "abc1x")];
        assert_eq!(find_in(&items, "abc1").unwrap(), "abc1");
        assert_eq!(find_in(&items, "giro").unwrap(), "abc1");
        assert_eq!(find_in(&items, "abd").unwrap(), "abd2");
        assert!(matches!(
            find_in(&items, "ab"),
            Err(Error::Ambiguous { count: 2, .. })
        ));
        let error = find_in(&items, "zz").unwrap_err();
        assert_eq!(error.to_string(), "no thing \"zz\"");
        assert!(find_in(&items, "").is_err());
    }
}
