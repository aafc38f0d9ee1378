// SPDX-License-Identifier: GPL-2.0
//! Kernel threads: [`KThread`] spawns a named kthread running `fn(&T, &ThreadContext)` and stops
//! it when dropped; [`Wakeup`] lets such a thread sleep until a condition holds, a timeout
//! passes or it is asked to stop, and lets any context wake it without losing a wake-up.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, Ordering};

use super::bindings as helpers;
use kernel::bindings;
use kernel::c_str;
use kernel::error::{code::ENOMEM, from_err_ptr};
use kernel::ffi::{c_int, c_long, c_void};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::task::{MAX_SCHEDULE_TIMEOUT, TASK_INTERRUPTIBLE, TASK_NORMAL};
use kernel::types::Opaque;

/// Proof that the code holding it runs as the body of a [`KThread`]: only the thread trampoline
/// creates one, and it cannot leave the thread (it is neither `Send` nor `Sync`).
pub(crate) struct ThreadContext {
    _not_send: PhantomData<*mut ()>,
}

impl ThreadContext {
    /// Whether the owner of the [`KThread`] asked the thread to finish (it is being dropped).
    pub(crate) fn should_stop(&self) -> bool {
        // SAFETY: `self` proves we run in a kthread created by `kthread_create_on_node`, the
        // only context where `kthread_should_stop` may be called.
        unsafe { bindings::kthread_should_stop() }
    }
}

/// What a kthread runs, with the state it runs on. Heap-allocated so its address is stable.
struct Start<T> {
    state: T,
    body: fn(&T, &ThreadContext),
}

/// A running kernel thread, stopped (and waited for) when dropped.
///
/// # Invariants
/// `task` came from a successful `kthread_create_on_node` whose data pointer is `_start`, was
/// woken up, and we hold one reference to it (from `get_task_struct`). `_start` is only freed
/// after `kthread_stop` returned, i.e. after the thread can no longer touch it.
pub(crate) struct KThread<T: Send + Sync + 'static> {
    task: NonNull<bindings::task_struct>,
    /// Read by the thread only (through the pointer it was created with).
    _start: KBox<Start<T>>,
}

// SAFETY: the handle only holds a task reference (usable from any thread) and the state, which
// is `Send + Sync`.
unsafe impl<T: Send + Sync + 'static> Send for KThread<T> {}
// SAFETY: `&KThread` only gives `&T`, and `T: Sync`.
unsafe impl<T: Send + Sync + 'static> Sync for KThread<T> {}

impl<T: Send + Sync + 'static> KThread<T> {
    /// Starts a kernel thread called `name` that runs `body(&state, &context)`. The body should
    /// return once [`ThreadContext::should_stop`] is true; dropping the handle waits for it.
    pub(crate) fn spawn(
        name: &'static CStr,
        state: T,
        body: fn(&T, &ThreadContext),
    ) -> Result<Self> {
        let start = KBox::new(Start { state, body }, GFP_KERNEL)?;
        let data = (&*start as *const Start<T>).cast_mut().cast::<c_void>();
        // SAFETY: `trampoline::<T>` has the signature of a thread function and reads `data` as
        // the `Start<T>` it is; that box outlives the thread (type invariant, established
        // below). The format "%s" consumes exactly the one string argument passed, and both
        // strings are NUL-terminated and static.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(trampoline::<T>),
                data,
                bindings::NUMA_NO_NODE,
                c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let task = NonNull::new(from_err_ptr(task)?).ok_or(ENOMEM)?;
        // SAFETY: `task` is a freshly created kthread that has not run yet, so it is alive; we
        // take our own reference before letting it run, then start it.
        unsafe {
            bindings::get_task_struct(task.as_ptr());
            bindings::wake_up_process(task.as_ptr());
        }
        // INVARIANT: created with `data` pointing into `start`, woken, reference taken.
        Ok(KThread {
            task,
            _start: start,
        })
    }
}

impl<T: Send + Sync + 'static> Drop for KThread<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `task` is a kthread we hold a reference to. This sets
        // the stop flag, wakes the thread (also out of a `Wakeup::sleep`), waits until the body
        // returned, and drops our reference. `_start` is freed only after this, by the fields'
        // drop.
        unsafe { bindings::kthread_stop_put(self.task.as_ptr()) };
    }
}

/// The thread function of every [`KThread`]: runs the body on the state.
///
/// # Safety
/// Called by the kthread core only, with `data` the `Start<T>` passed to
/// `kthread_create_on_node` by [`KThread::spawn`], which stays alive until the thread ended.
unsafe extern "C" fn trampoline<T: Send + Sync + 'static>(data: *mut c_void) -> c_int {
    // SAFETY: per the function contract `data` points to a live `Start<T>`, shared read-only.
    let start = unsafe { &*data.cast::<Start<T>>() };
    let context = ThreadContext {
        _not_send: PhantomData,
    };
    (start.body)(&start.state, &context);
    0
}

/// Why [`Wakeup::sleep`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeReason {
    /// The condition holds.
    Condition,
    /// The timeout passed.
    Timeout,
    /// The thread was asked to stop.
    Stop,
    /// A signal is pending (kthreads ignore signals, so this is not expected).
    Signal,
}

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const READY: u8 = 2;

/// A wait queue for one kernel thread's timed sleeps, meant for a `static`, so that wakers in
/// any context (a sysctl write, an interrupt) can reach it without a reference to the thread.
///
/// The waker makes the sleeper's condition true, then calls [`Wakeup::wake`]; the sleeper checks
/// the condition after queueing itself, so a wake-up between its check and its sleep is not
/// lost (the `wait_event_interruptible_timeout` protocol).
///
/// # Invariants
/// `head` is an initialised wait queue head once `state` is `READY`; it is never moved or freed
/// (the methods that touch it take `&'static self`).
pub(crate) struct Wakeup {
    state: AtomicU8,
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: `state` is atomic, and the wait queue head is only used through the kernel's wait
// queue functions, which synchronise on its spinlock.
unsafe impl Sync for Wakeup {}

impl Wakeup {
    /// An uninitialised wake-up channel; call [`Wakeup::init`] before sharing it.
    pub(crate) const fn new() -> Self {
        Wakeup {
            state: AtomicU8::new(UNINIT),
            head: Opaque::uninit(),
        }
    }

    /// Initialises the wait queue (once; later calls do nothing). Call it before anybody may
    /// sleep or set a condition, e.g. first thing at module load.
    pub(crate) fn init(&'static self) {
        if self
            .state
            .compare_exchange(UNINIT, INITIALIZING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // SAFETY: the compare-exchange above makes us the only initialiser, and nobody uses the
        // head before `state` is `READY`; the head is static, so it never moves.
        unsafe { helpers::mars_helper_init_waitqueue_head(self.head.get()) };
        // INVARIANT: the head is initialised.
        self.state.store(READY, Ordering::Release);
    }

    /// Wakes the sleeper, if any. Callable from any context. Make the sleeper's condition true
    /// before calling this.
    pub(crate) fn wake(&'static self) {
        if self.state.load(Ordering::Acquire) != READY {
            // Nobody can be sleeping on it yet.
            return;
        }
        // SAFETY: the head is initialised (state READY) and static. `__wake_up` takes the
        // queue's spinlock with interrupts saved, so any context may call it.
        unsafe { bindings::__wake_up(self.head.get(), TASK_NORMAL, 0, core::ptr::null_mut()) };
    }

    /// Sleeps until `condition()` holds, `timeout_ms` passed, or the thread is asked to stop,
    /// whichever comes first (checked in that order before sleeping).
    pub(crate) fn sleep(
        &'static self,
        context: &ThreadContext,
        timeout_ms: u32,
        condition: impl Fn() -> bool,
    ) -> WakeReason {
        self.init();
        if self.state.load(Ordering::Acquire) != READY {
            // Another context is initialising the head right now (only possible if `init` was
            // not called at load time): do not queue on it, check once and report a timeout.
            return if condition() {
                WakeReason::Condition
            } else {
                WakeReason::Timeout
            };
        }
        // SAFETY: the head is initialised (state READY) and static.
        unsafe { wait_on(self.head.get(), Some(context), timeout_ms, condition) }
    }
}

/// A wait queue inside a pinned object (a brick's shared state), for a thread that waits for
/// conditions other contexts make true: they change the state, then call
/// [`WaitEvent::wake`] (any context, also hardirq); the waiter checks its condition after
/// queueing itself, so no wake-up is lost. Unlike [`Wakeup`] it needs no `static`: pinning
/// keeps the head in place, and the owner keeps it alive for every waker (e.g. through an
/// `InFlight` reference held by a completion).
#[pin_data]
pub(crate) struct WaitEvent {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: the head is only used through the kernel's wait queue functions, which synchronise
// on its spinlock (taken with interrupts saved).
unsafe impl Sync for WaitEvent {}
// SAFETY: as above; moving the owning pointer to another thread does not move the head.
unsafe impl Send for WaitEvent {}

impl WaitEvent {
    /// An initialised wait queue, to be pinned in place.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(WaitEvent {
            // SAFETY: `slot` is pinned, writable memory for a wait queue head, initialised here
            // before any use.
            head <- Opaque::ffi_init(|slot| unsafe { helpers::mars_helper_init_waitqueue_head(slot) }),
        })
    }

    /// Wakes the waiters, if any. Any context. Make their condition true before calling this.
    pub(crate) fn wake(&self) {
        // SAFETY: the head is initialised and pinned (construction only through `new`);
        // `__wake_up` takes the queue's lock with interrupts saved.
        unsafe { bindings::__wake_up(self.head.get(), TASK_NORMAL, 0, core::ptr::null_mut()) };
    }

    /// Waits until `condition()` holds or `timeout_ms` passed, in a kernel thread also until it
    /// is asked to stop (`context`). Without a thread context the wait is uninterruptible (a
    /// process writing a sysctl may have signals pending, which must not end the wait early);
    /// keep such waits short.
    pub(crate) fn wait(
        &self,
        context: Option<&ThreadContext>,
        timeout_ms: u32,
        condition: impl Fn() -> bool,
    ) -> WakeReason {
        // SAFETY: the head is initialised and pinned (construction only through `new`) and
        // lives as long as `self`.
        unsafe { wait_on(self.head.get(), context, timeout_ms, condition) }
    }
}

/// Waits on the queue `head` until `condition()` holds, `timeout_ms` passed, or (with a
/// thread context) the thread is asked to stop or a signal is pending, checked in that order
/// after queueing, so no wake-up is lost. Without a thread context the wait is
/// uninterruptible.
///
/// # Safety
/// `head` is an initialised wait queue head that stays valid and in place during the call.
unsafe fn wait_on(
    head: *mut bindings::wait_queue_head,
    context: Option<&ThreadContext>,
    timeout_ms: u32,
    condition: impl Fn() -> bool,
) -> WakeReason {
    let state = if context.is_some() {
        TASK_INTERRUPTIBLE
    } else {
        kernel::task::TASK_UNINTERRUPTIBLE
    };
    let jiffies = kernel::time::msecs_to_jiffies(timeout_ms);
    let mut remaining = c_long::try_from(jiffies).unwrap_or(MAX_SCHEDULE_TIMEOUT);
    let wait = Opaque::<bindings::wait_queue_entry>::uninit();
    // SAFETY: `wait` is valid writable memory on our stack.
    unsafe { bindings::init_wait(wait.get()) };
    let reason = loop {
        // SAFETY: `head` is valid (caller); `wait` is initialised and stays on this stack frame
        // until `finish_wait` below removed it. Sets our task state (with a full barrier)
        // before the checks.
        unsafe { bindings::prepare_to_wait(head, wait.get(), state) };
        if condition() {
            break WakeReason::Condition;
        }
        // kthread_stop sets the flag, then wakes us: either we see it here, or its wake-up
        // comes after our task state was set and makes schedule_timeout return.
        if context.is_some_and(|c| c.should_stop()) {
            break WakeReason::Stop;
        }
        // SAFETY: `get_current` is always valid in process context.
        if context.is_some() && unsafe { bindings::signal_pending(bindings::get_current()) } != 0 {
            break WakeReason::Signal;
        }
        // SAFETY: plain sleep in process context with our task state set above; the caller
        // holds no spinlock (it may sleep).
        remaining = unsafe { bindings::schedule_timeout(remaining) };
        if remaining <= 0 {
            break WakeReason::Timeout;
        }
    };
    // SAFETY: as for `prepare_to_wait`; this dequeues `wait` and sets TASK_RUNNING.
    unsafe { bindings::finish_wait(head, wait.get()) };
    reason
}
