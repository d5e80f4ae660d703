/// One read-modify-write of the market's orders and set-points at a time. The market is an
/// actor, but each store call suspends it: an acknowledgement taken while an order is composed
/// would otherwise be overwritten by the order's older copy (or find its set-point not yet
/// recorded). Waiters are served in arrival order.
actor DispatchLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}
