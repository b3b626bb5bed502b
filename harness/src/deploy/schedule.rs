//! When each resource may start: as soon as the resources it waits for are done, not in waves
//! (a NAT gateway need not wait for a Lambda function that happens to share its depth).
//! Creation waits for dependencies; deletion waits for dependents.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    future::Future,
};

use futures_util::{StreamExt, stream::FuturesUnordered};

/// What deletion waits for: each of `members`' dependents among `members`, direct or through
/// resources that are not members (a disabled or never-created resource still orders the
/// resources on either side of it).
pub(crate) fn dependents_among(
    dependencies: &BTreeMap<String, BTreeSet<String>>,
    members: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let is_member: BTreeSet<&String> = members.iter().collect();
    let mut reversed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for member in members {
        let mut seen = BTreeSet::new();
        let mut walk: Vec<&String> = dependencies.get(member).into_iter().flatten().collect();
        while let Some(dep) = walk.pop() {
            if dep == member || !seen.insert(dep) {
                continue;
            }
            if is_member.contains(dep) {
                reversed
                    .entry(dep.clone())
                    .or_default()
                    .insert(member.clone());
            } else {
                walk.extend(dependencies.get(dep).into_iter().flatten());
            }
        }
    }
    reversed
}

/// Resources not started yet, each with the resources of this schedule it still waits for.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// The resources in their tie-breaking order.
    order: Vec<String>,
    /// Not started yet: what each still waits for.
    waiting: BTreeMap<String, BTreeSet<String>>,
}

impl Schedule {
    /// A schedule of `order`'s resources, each waiting for those of `waits_for` that are in
    /// `order` (a wait on anything else is already met).
    pub(crate) fn new(order: &[String], waits_for: &BTreeMap<String, BTreeSet<String>>) -> Self {
        let members: BTreeSet<&String> = order.iter().collect();
        let waiting = order
            .iter()
            .map(|id| {
                let waits = waits_for.get(id).into_iter().flatten();
                let waits = waits.filter(|w| members.contains(w) && *w != id).cloned();
                (id.clone(), waits.collect())
            })
            .collect();
        Self {
            order: order.to_vec(),
            waiting,
        }
    }

    /// The resources that wait for nothing any more, in order; they count as started.
    pub(crate) fn take_ready(&mut self) -> Vec<String> {
        let ready: Vec<String> = self
            .order
            .iter()
            .filter(|id| self.waiting.get(*id).is_some_and(BTreeSet::is_empty))
            .cloned()
            .collect();
        for id in &ready {
            self.waiting.remove(id);
        }
        ready
    }

    /// `id` is done: nothing waits for it any more.
    pub(crate) fn settle(&mut self, id: &str) {
        for waits in self.waiting.values_mut() {
            waits.remove(id);
        }
    }

    /// Runs every member once, each as soon as what it waits for has ended (whatever its
    /// outcome), at most `at_once` together; returns each member with its outcome, in the order
    /// they ended.
    pub(crate) async fn run_all<F, Fut>(
        mut self,
        at_once: usize,
        mut start: F,
    ) -> Vec<(String, Fut::Output)>
    where
        F: FnMut(&str) -> Fut,
        Fut: Future,
    {
        let mut running = FuturesUnordered::new();
        let mut queued = VecDeque::new();
        let mut ended = Vec::new();
        loop {
            queued.extend(self.take_ready());
            while running.len() < at_once.max(1)
                && let Some(id) = queued.pop_front()
            {
                let job = start(&id);
                running.push(async move { (id, job.await) });
            }
            let Some((id, outcome)) = running.next().await else {
                return ended;
            };
            self.settle(&id);
            ended.push((id, outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Queue and Table wait for nothing; Policy for Queue; Role for Table; Function for Role.
    fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
        [
            ("Queue", &[][..]),
            ("Table", &[]),
            ("Policy", &["Queue"]),
            ("Role", &["Table"]),
            ("Function", &["Role"]),
        ]
        .into_iter()
        .map(|(id, deps)| (id.to_owned(), ids(deps).into_iter().collect()))
        .collect()
    }

    #[test]
    fn a_resource_starts_as_soon_as_its_own_dependencies_are_done() {
        let order = ids(&["Queue", "Table", "Policy", "Role", "Function"]);
        let mut schedule = Schedule::new(&order, &dependencies());
        assert_eq!(schedule.take_ready(), ids(&["Queue", "Table"]));
        assert_eq!(
            schedule.take_ready(),
            Vec::<String>::new(),
            "each starts once"
        );
        schedule.settle("Table");
        // Role starts while Queue is still being created: no wave holds it back.
        assert_eq!(schedule.take_ready(), ids(&["Role"]));
        schedule.settle("Role");
        assert_eq!(schedule.take_ready(), ids(&["Function"]));
        schedule.settle("Queue");
        assert_eq!(schedule.take_ready(), ids(&["Policy"]));
    }

    #[test]
    fn deletion_waits_for_dependents_and_ignores_resources_it_does_not_hold() {
        // Only these were created (Policy's creation failed): Queue waits for nobody.
        let order = ids(&["Function", "Role", "Table", "Queue"]);
        let mut schedule = Schedule::new(&order, &dependents_among(&dependencies(), &order));
        assert_eq!(schedule.take_ready(), ids(&["Function", "Queue"]));
        schedule.settle("Function");
        assert_eq!(schedule.take_ready(), ids(&["Role"]));
        schedule.settle("Role");
        assert_eq!(schedule.take_ready(), ids(&["Table"]));
    }

    #[test]
    fn deletion_keeps_the_order_through_a_resource_never_created() {
        // Role (its Condition false) was never created; Function still goes before Table.
        let order = ids(&["Function", "Table", "Queue"]);
        let mut schedule = Schedule::new(&order, &dependents_among(&dependencies(), &order));
        assert_eq!(schedule.take_ready(), ids(&["Function", "Queue"]));
        schedule.settle("Function");
        assert_eq!(schedule.take_ready(), ids(&["Table"]));
    }

    #[test]
    fn a_resource_never_waits_for_itself() {
        let waits = BTreeMap::from([("A".to_owned(), BTreeSet::from(["A".to_owned()]))]);
        let mut schedule = Schedule::new(&ids(&["A"]), &waits);
        assert_eq!(schedule.take_ready(), ids(&["A"]));
    }

    #[tokio::test]
    async fn run_all_starts_each_once_in_order_and_never_more_than_asked() {
        let order = ids(&["Queue", "Table", "Policy", "Role", "Function"]);
        let running = std::sync::atomic::AtomicUsize::new(0);
        let most = std::sync::atomic::AtomicUsize::new(0);
        let ended = Schedule::new(&order, &dependencies())
            .run_all(2, |id| {
                let id = id.to_owned();
                let (running, most) = (&running, &most);
                async move {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    id
                }
            })
            .await;
        let names: Vec<&str> = ended.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(names.len(), 5, "each member once: {names:?}");
        let at = |n: &str| names.iter().position(|m| *m == n).unwrap();
        assert!(
            at("Queue") < at("Policy") && at("Table") < at("Role") && at("Role") < at("Function")
        );
        assert!(ended.iter().all(|(id, outcome)| id == outcome));
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
