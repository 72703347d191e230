use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::facts::Member;

/// One person of the roster the run recorded when it started: who held which role at
/// the time, whatever the roster file says today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub login: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
}

impl Person {
    pub fn all(roster: Option<&BTreeMap<String, Member>>) -> Vec<Person> {
        roster
            .into_iter()
            .flatten()
            .map(|(login, member)| Person {
                login: login.clone(),
                name: member.name.clone(),
                roles: member.roles.clone(),
            })
            .collect()
    }

    /// `alice (Alice Chen; commander, dba)`, or the login alone when the roster does
    /// not know it.
    pub fn described(login: &str, people: &[Person]) -> String {
        match people.iter().find(|person| person.login == login) {
            Some(person) => {
                let mut about: Vec<String> = person.name.iter().cloned().collect();
                if !person.roles.is_empty() {
                    about.push(person.roles.join(", "));
                }
                if about.is_empty() {
                    login.to_string()
                } else {
                    format!("{login} ({})", about.join("; "))
                }
            }
            None => login.to_string(),
        }
    }
}
