import Foundation

/// A one-line progress bar with rate and ETA on a terminal's standard error; silent when stderr is piped.
final class ProgressReporter {
    private let label: String
    private let total: UInt64
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast

    init(label: String, total: UInt64) {
        self.label = label
        self.total = total
        self.enabled = isatty(STDERR_FILENO) == 1 && total > 0
    }

    func update(_ done: UInt64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        draw(done, now: now)
    }

    func finish() {
        guard enabled else { return }
        draw(total, now: Date())
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ done: UInt64, now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let fraction = min(Double(done) / Double(total), 1)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - min(done, total)) / rate : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "\r%@ %@ %3.0f%%  %llu/%llu  %.0f/s  ETA %.0fs ", label, bar, fraction * 100, done, total, rate, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }
}
