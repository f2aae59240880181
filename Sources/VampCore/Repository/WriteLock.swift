/// Runs the facade's writes one after another, in arrival order.
///
/// An actor alone does not serialise them: `Vamp`'s methods await the store, and another call may run in
/// between. A gateway write reads every gateway, checks the whole set and then stores, so two interleaved writes
/// could each pass their check against a set without the other (two gateways on one port). The lock closes
/// that window without blocking a thread: waiters are suspended continuations.
actor WriteLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable, E: Error>(_ body: @Sendable () async throws(E) -> T) async throws(E) -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            held = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
