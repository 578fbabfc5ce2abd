import Foundation

/// A one-line progress bar with rate and ETA on a terminal's standard error; silent when stderr is piped.
/// With no known total (an import from standard input) it shows a running count and rate instead.
final class ProgressReporter {
    private let label: String
    private let total: UInt64
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast

    init(label: String, total: UInt64) {
        self.label = label
        self.total = total
        self.enabled = isatty(STDERR_FILENO) == 1
    }

    func update(_ done: UInt64) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        draw(done, now: now)
    }

    func finish(at done: UInt64? = nil) {
        guard enabled else { return }
        draw(done ?? total, now: Date())
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ reported: UInt64, now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        guard total > 0 else {
            let line = String(format: "\r%@ %llu  %.0f/s ", label, reported, Double(reported) / elapsed)
            FileHandle.standardError.write(Data(line.utf8))
            return
        }
        // Estimates from parallel work (the rebuild's threads) may run ahead: never show more than the total.
        let done = min(reported, total)
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
