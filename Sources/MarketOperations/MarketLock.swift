import UFTPGateway
/// One read-modify-write of a part of the market at a time. The market is an actor, but each
/// store call suspends it, and another call may run in between: two clearings of one session
/// (the scheduler's and the market operator's) would both find it open; an acknowledgement taken
/// while an order is composed would be overwritten by the order's older copy. Waiters are served
/// in arrival order.
package actor MarketLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    package func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}
