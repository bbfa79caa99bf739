//! One worker pool for every parallel step (dump workers, table loaders, post-data builders).
//!
//! `jobs` workers take items from one shared queue until it is empty. Each worker is a value
//! that keeps its own state between items (typically one PostgreSQL connection, opened on
//! its first item). A worker may put new items at the front of the queue while it runs
//! (the table loader queues a table's index builds as soon as its rows are in).
//!
//! The first error stops every worker from taking new work (items already started run to
//! their end) and is the error returned; a worker task that panics or is cancelled is
//! reported as [`Error::Worker`], never dropped. Results come back in item order: the
//! initial items first, in the order given, then pushed items in the order they were pushed.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// A worker of the pool: handles one item at a time, keeping its state between items.
pub trait Worker: Send + 'static {
    type Item: Send + 'static;
    type Output: Send + 'static;

    fn run(
        &mut self,
        item: Self::Item,
        queue: &Queue<Self::Item>,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// The pool's shared queue, as a worker sees it.
pub struct Queue<I> {
    // A tokio mutex cannot be poisoned: a panicking worker cannot turn the queue into an
    // empty one for the others.
    items: Mutex<Pending<I>>,
    stopped: AtomicBool,
}

struct Pending<I> {
    items: VecDeque<(usize, I)>,
    next_index: usize,
}

impl<I> Queue<I> {
    fn new(items: Vec<I>) -> Self {
        let next_index = items.len();
        Queue {
            items: Mutex::new(Pending {
                items: items.into_iter().enumerate().collect(),
                next_index,
            }),
            stopped: AtomicBool::new(false),
        }
    }

    /// Puts items at the front of the queue, to be taken next, in the order given.
    pub async fn push_front(&self, items: Vec<I>) {
        let mut pending = self.items.lock().await;
        let first = pending.next_index;
        pending.next_index += items.len();
        for (i, item) in items.into_iter().enumerate().rev() {
            pending.items.push_front((first + i, item));
        }
    }

    async fn take(&self) -> Option<(usize, I)> {
        if self.stopped.load(Ordering::SeqCst) {
            return None;
        }
        self.items.lock().await.items.pop_front()
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// Runs `items` on the given workers (one task each) and returns every result, by item
/// index. `name` says which pool failed if a worker task dies. An empty worker list is
/// refused: nothing would take the items.
pub async fn run<W: Worker>(
    name: &'static str,
    workers: Vec<W>,
    items: Vec<W::Item>,
) -> Result<Vec<W::Output>> {
    if workers.is_empty() {
        return Err(Error::config(format!("{name}: jobs must be at least 1")));
    }
    let queue = Arc::new(Queue::new(items));
    let mut set = tokio::task::JoinSet::new();
    for worker in workers {
        set.spawn(work(worker, queue.clone()));
    }
    let mut done = Vec::new();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(outputs)) => done.extend(outputs),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                queue.stop();
                first_error.get_or_insert(Error::Worker {
                    pool: name,
                    source: e,
                });
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, output)| output).collect())
}

/// One worker's loop: take, run, until the queue is empty or another worker failed.
async fn work<W: Worker>(
    mut worker: W,
    queue: Arc<Queue<W::Item>>,
) -> Result<Vec<(usize, W::Output)>> {
    let mut done = Vec::new();
    while let Some((index, item)) = queue.take().await {
        match worker.run(item, &queue).await {
            Ok(output) => done.push((index, output)),
            Err(e) => {
                queue.stop();
                return Err(e);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Doubles numbers; opens its "connection" on the first item, fails on `fail_on`.
    struct Doubler {
        connections: Arc<AtomicUsize>,
        started: Arc<AtomicUsize>,
        connection: Option<usize>,
        handled: usize,
        fail_on: Option<u32>,
    }

    impl Worker for Doubler {
        type Item = u32;
        type Output = (u32, usize);

        async fn run(&mut self, item: u32, _queue: &Queue<u32>) -> Result<(u32, usize)> {
            self.started.fetch_add(1, Ordering::SeqCst);
            let id = match self.connection {
                Some(id) => id,
                None => {
                    let id = self.connections.fetch_add(1, Ordering::SeqCst);
                    self.connection = Some(id);
                    id
                }
            };
            self.handled += 1;
            if Some(item) == self.fail_on {
                return Err(Error::Backup(format!("item {item} failed")));
            }
            // Let other workers interleave.
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok((item * 2, id))
        }
    }

    fn doublers(
        n: usize,
        fail_on: Option<u32>,
    ) -> (Vec<Doubler>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let connections = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let workers = (0..n)
            .map(|_| Doubler {
                connections: connections.clone(),
                started: started.clone(),
                connection: None,
                handled: 0,
                fail_on,
            })
            .collect();
        (workers, connections, started)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn returns_every_result_in_item_order_and_reuses_worker_state() {
        let (workers, connections, started) = doublers(3, None);
        let out = run("test", workers, (0..50).collect()).await.unwrap();
        let values: Vec<u32> = out.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(started.load(Ordering::SeqCst), 50);
        // A worker opens its connection once and uses it for all its items: at most one
        // connection per worker, and every item ran on one of them.
        let opened = connections.load(Ordering::SeqCst);
        assert!((1..=3).contains(&opened), "{opened} connections");
        let mut ids: Vec<usize> = out.iter().map(|(_, id)| *id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids, (0..opened).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_error_stops_the_others_and_is_returned() {
        let (workers, _, started) = doublers(2, Some(3));
        let err = run("test", workers, (0..1000).collect()).await.unwrap_err();
        assert_eq!(err.to_string(), "backup item 3 failed");
        // Items 0..=3 plus at most the one the other worker had in hand.
        assert!(
            started.load(Ordering::SeqCst) <= 6,
            "{}",
            started.load(Ordering::SeqCst)
        );
    }

    struct Panicker;

    impl Worker for Panicker {
        type Item = u32;
        type Output = u32;

        async fn run(&mut self, item: u32, _queue: &Queue<u32>) -> Result<u32> {
            if item == 1 {
                panic!("worker bug");
            }
            Ok(item)
        }
    }

    #[tokio::test]
    async fn a_panicking_worker_is_a_typed_error() {
        let err = run("loader", vec![Panicker, Panicker], vec![0, 1, 2])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Worker { pool: "loader", .. }), "{err}");
        assert_eq!(err.exit_code(), 1);
    }

    /// Splits numbers above 1 into two halves pushed to the front.
    struct Splitter;

    impl Worker for Splitter {
        type Item = u32;
        type Output = u32;

        async fn run(&mut self, item: u32, queue: &Queue<u32>) -> Result<u32> {
            if item > 1 {
                queue.push_front(vec![item / 2, item - item / 2]).await;
            }
            Ok(item)
        }
    }

    #[tokio::test]
    async fn pushed_items_run_and_follow_the_initial_ones() {
        let out = run("test", vec![Splitter], vec![4, 1]).await.unwrap();
        // 4 pushes 2, 2; each 2 pushes 1, 1; all run before the initial 1.
        assert_eq!(out, [4, 1, 2, 2, 1, 1, 1, 1]);
    }

    #[tokio::test]
    async fn no_workers_is_refused() {
        let err = run("test", Vec::<Splitter>::new(), vec![1])
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
