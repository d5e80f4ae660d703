import Foundation
import Synchronization
import Testing
import TestSupport

/// The harness's own child processes: every test's peers and commands start through them.
@Suite struct ChildProcessTests {
    /// CI once waited 300 s on a `chown` that had ended at once: Foundation's Process learnt of
    /// its end from a socket that a server spawned beside it had inherited too.
    @Test func shortCommandsEndWhileServersStartedBesideThemRun() throws {
        let servers = Mutex<[ChildProcess]>([])
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            #expect(throws: Never.self) {
                if index.isMultiple(of: 2) {
                    let server = try ChildProcess("/bin/sleep", ["600"], stdin: null, stdout: null, stderr: null)
                    servers.withLock { $0.append(server) }
                } else {
                    let outcome = try Processes.run("/bin/sh", ["-c", "echo $0", "ended"], timeoutSeconds: 60)
                    #expect(outcome.status == 0 && outcome.stdout == "ended\n")
                }
            }
        }
        let running = servers.withLock { $0 }
        #expect(running.count == 20 && running.allSatisfy(\.isRunning))
        for server in running {
            server.signal(SIGTERM)
            #expect(server.wait(timeoutSeconds: 60) && server.outcome! == (SIGTERM, true))
        }
    }

    /// dnsmasq closes every descriptor it inherited as it starts; under Foundation that stopped
    /// the harness noticing any other child's end until it exited.
    @Test func aChildClosingItsDescriptorsDoesNotHideOthersEnds() throws {
        let server = try RunningProcess("/usr/bin/python3", ["-c", "import os, time; os.closerange(3, 65536); print('closed', flush=True); time.sleep(600)"])
        #expect(server.readLine() == "closed")
        #expect(try Processes.run("/bin/true", [], timeoutSeconds: 30).status == 0)
        #expect(server.stop() == SIGTERM)
    }

    @Test func outcomeStdinAndSignals() throws {
        let echoed = try Processes.run("/bin/cat", [], stdin: "a line\n")
        #expect(echoed.status == 0 && echoed.stdout == "a line\n" && !echoed.signaled)
        let failed = try Processes.run("/bin/sh", ["-c", "echo problem >&2; exit 3"])
        #expect(failed.status == 3 && failed.stderr == "problem\n")
        let killed = try Processes.run("/bin/sh", ["-c", "kill -9 $$"])
        #expect(killed.signaled && killed.status == SIGKILL)
        #expect(throws: ProcessError.self) { try Processes.run("/bin/sleep", ["30"], timeoutSeconds: 1) }
        #expect(throws: ProcessError.self) { try Processes.run("/nonexistent/program", []) }
        // Only stdin, stdout and stderr are inherited.
        let descriptors = try Processes.run("/bin/ls", ["/proc/self/fd"])
        #expect(descriptors.stdout.split(separator: "\n").sorted() == ["0", "1", "2", "3"])  // 3: ls's own listing
    }
}
