//! Which stacks of a world use which. A stack uses an earlier one when a value it took in (a
//! parameter, an imported export) is a value the earlier stack made (an output, a physical id,
//! an attribute): a subnet id passed from a network stack, a queue ARN, an API id passed
//! across regions. A stack is deleted once the stacks that use it are gone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::stack::Stack;

/// Adds the strings inside `value` to `into`; a comma-separated string (a list parameter, a
/// joined output) counts as its items too.
pub(crate) fn collect_values(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                return;
            }
            into.insert(text.to_owned());
            if text.contains(',') {
                into.extend(
                    text.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_values(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_values(item, into)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// For each stack of `stacks` (by its index, as text), the later stacks that use it: what its
/// deletion waits for.
pub(crate) fn users(stacks: &[Stack]) -> BTreeMap<String, BTreeSet<String>> {
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, earlier) in stacks.iter().enumerate() {
        let made = earlier.made_values();
        for (j, later) in stacks.iter().enumerate().skip(i + 1) {
            if later.inputs().iter().any(|input| made.contains(input)) {
                users
                    .entry(i.to_string())
                    .or_default()
                    .insert(j.to_string());
            }
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_parameters_and_joined_outputs_count_item_by_item() {
        let mut values = BTreeSet::new();
        collect_values(&json!(["subnet-1", "subnet-2, subnet-3", ""]), &mut values);
        collect_values(
            &json!({"Arn": "arn:aws:sqs:us-east-1:1:q", "Port": 443}),
            &mut values,
        );
        let expected = [
            "subnet-1",
            "subnet-2, subnet-3",
            "subnet-2",
            "subnet-3",
            "arn:aws:sqs:us-east-1:1:q",
        ];
        assert_eq!(values, expected.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn a_stack_waits_for_the_later_stacks_that_took_its_values() {
        let network = Stack::linked("network", &[], &[("Subnets", "subnet-1,subnet-2")]);
        let other = Stack::linked("other", &[], &[("Queue", "arn:aws:sqs:us-east-1:1:q")]);
        let app = Stack::linked("app", &["subnet-2", "PRIVATE"], &[("Api", "abc123")]);
        let remote = Stack::linked("remote", &["abc123"], &[]);
        let found = users(&[network, other, app, remote]);
        let expected: BTreeMap<String, BTreeSet<String>> = [
            ("0".to_owned(), ["2".to_owned()].into()),
            ("2".to_owned(), ["3".to_owned()].into()),
        ]
        .into();
        assert_eq!(found, expected);
    }
}
