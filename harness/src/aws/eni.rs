//! Network interfaces at free addresses: the engine (NAT gateways, interface endpoints,
//! instances) and the fabric (Lambda ENIs, test hosts) both take addresses here.
//!
//! The emulator picks ENI addresses at random, reserved ones and duplicates included; AWS gives
//! a free address of the subnet, never one of the four it reserves at the start or the last.

use std::{
    collections::{BTreeSet, HashMap},
    net::Ipv4Addr,
    sync::{Arc, Mutex, OnceLock},
};

use aws_sdk_ec2::types::{Filter, NetworkInterface};

use super::{
    cidr::{BlockExt, Ipv4Block},
    error::CallError,
};

/// How many subnets one `DescribeNetworkInterfaces` names in its `subnet-id` filter.
const SUBNETS_PER_DESCRIBE: usize = 50;

/// The addresses ENIs use in each of `subnets`, a few subnets a call.
async fn used_addresses(
    ec2: &aws_sdk_ec2::Client,
    subnets: &[String],
) -> Result<HashMap<String, Vec<Ipv4Addr>>, CallError> {
    let mut used: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    for chunk in subnets.chunks(SUBNETS_PER_DESCRIBE) {
        let described = ec2
            .describe_network_interfaces()
            .filters(
                Filter::builder()
                    .name("subnet-id")
                    .set_values(Some(chunk.to_vec()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                CallError::new(&format!("DescribeNetworkInterfaces {}", chunk.join(" ")), e)
            })?;
        for eni in described.network_interfaces() {
            if let (Some(subnet), Some(Ok(address))) = (
                eni.subnet_id(),
                eni.private_ip_address().map(str::parse::<Ipv4Addr>),
            ) {
                used.entry(subnet.to_owned()).or_default().push(address);
            }
        }
    }
    Ok(used)
}

/// The lock of one subnet's allocations, by subnet.
type Locks = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

fn locks() -> &'static Locks {
    static BY_SUBNET: OnceLock<Locks> = OnceLock::new();
    BY_SUBNET.get_or_init(Locks::default)
}

/// Holds a subnet's allocation lock: no other creation in that subnet (an ENI, an instance)
/// may choose an address until it is dropped. The subnet's lock is forgotten when no one else
/// holds or waits for it.
pub(crate) struct AllocationGuard {
    subnet: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for AllocationGuard {
    fn drop(&mut self) {
        drop(self.held.take());
        let mut locks = locks().lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and this guard have the lock, and no one can take it from the map
        // while the map's own lock is held here: no one waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.subnet);
        }
    }
}

/// Serialises choosing a free address of `subnet` and taking it: no other creation in that
/// subnet may interleave; other subnets' go on. Hold the guard until the address is taken.
pub(crate) async fn allocation_guard(subnet: &str) -> AllocationGuard {
    let lock = locks()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(subnet.to_owned())
        .or_default()
        .clone();
    let held = Some(lock.clone().lock_owned().await);
    AllocationGuard {
        subnet: subnet.to_owned(),
        lock,
        held,
    }
}

/// Free addresses of several subnets, chosen as AWS would choose them, while their
/// allocation locks are held.
pub(crate) struct Allocation {
    /// Each subnet's block and the addresses taken in it, this allocation's included.
    subnets: HashMap<String, (Ipv4Block, Vec<Ipv4Addr>)>,
    _guards: Vec<AllocationGuard>,
}

impl Allocation {
    /// Locks `subnets` (always in the same order, so two allocations never wait on each
    /// other) and reads the addresses their ENIs use, with one call for up to fifty subnets.
    pub(crate) async fn lock<'a>(
        ec2: &aws_sdk_ec2::Client,
        subnets: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, CallError> {
        let subnets: BTreeSet<&str> = subnets.into_iter().collect();
        let mut guards = Vec::with_capacity(subnets.len());
        for subnet in &subnets {
            guards.push(allocation_guard(subnet).await);
        }
        let mut allocation = Self::read(ec2, subnets).await?;
        allocation._guards = guards;
        Ok(allocation)
    }

    /// Reads the blocks of `subnets` and the addresses their ENIs use, without locking.
    async fn read(ec2: &aws_sdk_ec2::Client, subnets: BTreeSet<&str>) -> Result<Self, CallError> {
        let names: Vec<String> = subnets.iter().map(|s| (*s).to_owned()).collect();
        let mut used = used_addresses(ec2, &names).await?;
        let mut blocks = HashMap::with_capacity(names.len());
        for subnet in names {
            let block = super::blocks::subnet_block(ec2, &subnet).await?;
            let taken = used.remove(&subnet).unwrap_or_default();
            blocks.insert(subnet, (block, taken));
        }
        Ok(Self {
            subnets: blocks,
            _guards: Vec::new(),
        })
    }

    /// The first address of `subnet` AWS would give (not reserved, not used), now taken.
    pub(crate) fn take(&mut self, subnet: &str, operation: &str) -> Result<Ipv4Addr, CallError> {
        let (block, taken) = self.subnets.get_mut(subnet).ok_or_else(|| {
            CallError::local(
                operation,
                Some(subnet),
                "the subnet was not locked for this allocation".into(),
            )
        })?;
        let address = block
            .usable_hosts()
            .find(|a| !taken.contains(a))
            .ok_or_else(|| {
                CallError::local(
                    operation,
                    Some(subnet),
                    format!("the subnet ({block}) has no free address"),
                )
            })?;
        taken.push(address);
        Ok(address)
    }
}

/// Creates an ENI in `subnet` at `address`, with the given description and security groups
/// (none: EC2 puts it in the VPC's default group).
pub(crate) async fn create_interface_at(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    address: Ipv4Addr,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, CallError> {
    ec2.create_network_interface()
        .subnet_id(subnet)
        .private_ip_address(address.to_string())
        .description(description)
        .set_groups((!groups.is_empty()).then(|| groups.to_vec()))
        .send()
        .await
        .map_err(|e| CallError::new(&format!("CreateNetworkInterface {subnet}"), e))?
        .network_interface
        .ok_or_else(|| {
            CallError::local(
                "CreateNetworkInterface",
                Some(subnet),
                "the answer holds no interface".into(),
            )
        })
}

/// Creates an ENI in `subnet` at its first free address (see [`create_interface_at`]).
pub(crate) async fn create_interface(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, CallError> {
    let mut allocation = Allocation::lock(ec2, [subnet]).await?;
    let address = allocation.take(subnet, "CreateNetworkInterface")?;
    create_interface_at(ec2, subnet, address, description, groups).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subnets_lock_is_forgotten_once_no_one_holds_or_waits_for_it() {
        let subnet = "subnet-lock-test";
        let first = allocation_guard(subnet).await;
        let waiting = tokio::spawn(async move { drop(allocation_guard(subnet).await) });
        while Arc::strong_count(&first.lock) < 4 {
            tokio::task::yield_now().await;
        }
        drop(first);
        waiting.await.expect("the waiter gets the lock");
        assert!(
            !locks()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(subnet)
        );
    }

    #[tokio::test]
    async fn an_allocation_takes_each_free_address_once() {
        let block = super::super::cidr::parse("10.9.1.0/29").expect("a block");
        let mut allocation = Allocation {
            subnets: HashMap::from([("subnet-a".to_owned(), (block, vec![]))]),
            _guards: Vec::new(),
        };
        let first = allocation.take("subnet-a", "test").expect("a free address");
        let second = allocation.take("subnet-a", "test").expect("another");
        // A /29 has eight addresses: four reserved at the start, the last, three left.
        assert_eq!(first, Ipv4Addr::new(10, 9, 1, 4));
        assert_eq!(second, Ipv4Addr::new(10, 9, 1, 5));
        allocation.take("subnet-a", "test").expect("the third");
        assert!(allocation.take("subnet-a", "test").is_err());
        assert!(allocation.take("subnet-b", "test").is_err());
    }
}
