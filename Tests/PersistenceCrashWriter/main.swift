// Child process of the SQLite crash-safety test: writes an artifact and an event per step into
// the database at argv[1], starting at step argv[2], and prints each step's number once both
// writes are acknowledged. It runs until the test kills it with SIGKILL.
import Foundation
import Persistence
import VampModel

let arguments = CommandLine.arguments
guard arguments.count == 3, let first = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: PersistenceCrashWriter DATABASE FIRST-STEP\n".utf8))
    exit(2)
}
do {
    let store = try SQLiteStore(configuration: SQLiteStore.Configuration(path: arguments[1]))
    var step = first
    while true {
        _ = try await store.create(kind: "breeds", name: "b\(step)", body: Data(#"{"step":\#(step)}"#.utf8))
        try await store.append(Event(id: "e\(step)", tags: ["crash", "step:\(step)"], value: .number(Double(step))))
        // write(2) on the raw descriptor: no stdio buffer can hold back an acknowledgement.
        FileHandle.standardOutput.write(Data("\(step)\n".utf8))
        step += 1
    }
} catch {
    FileHandle.standardError.write(Data("PersistenceCrashWriter: \(error)\n".utf8))
    exit(1)
}
