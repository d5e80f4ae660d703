import Foundation
import GridCore
@testable import LightNode
import Testing

@Suite struct DoorbellTests {
    @Test func waitsUntilItsDeadlineWhenNobodyRings() {
        let doorbell = Doorbell()
        let deadline = Timestamp.now().adding(milliseconds: 50)
        #expect(doorbell.wait(until: deadline) == nil)
        #expect(Timestamp.now() >= deadline)
        // A deadline already past returns at once.
        #expect(doorbell.wait(until: Timestamp.now().adding(milliseconds: -1_000)) == nil)
    }

    @Test func aRingWakesTheWaiterWithTheLastByteAndIsConsumed() {
        let doorbell = Doorbell()
        doorbell.ring(7)
        doorbell.ring(15)
        // Rung before the wait: the wait returns at once with the last byte, long before the deadline.
        let deadline = Timestamp.now().adding(milliseconds: 600_000)
        #expect(doorbell.wait(until: deadline) == 15)
        #expect(doorbell.wait(until: Timestamp.now().adding(milliseconds: 20)) == nil, "the rings were drained")
        // Rung from another thread while waiting.
        let ringer = Thread { doorbell.ring(3) }
        ringer.start()
        #expect(doorbell.wait(until: Timestamp.now().adding(milliseconds: 600_000)) == 3)
    }
}
