import LauncherCore

/// The line of a program's error output worth showing as a workflow's error. The last line is
/// often noise (a closing `}` of a JSON dump, a progress bar, colour codes); this prefers the
/// last line that reads as an error, else the last line with words in it.
package enum ErrorExcerpt {
    package static func meaningful(_ text: String, limit: Int = 300) -> String? {
        let lines = text.split(whereSeparator: \.isNewline).map { BackendError.sanitise(String($0), limit: limit) }
        let wordy = lines.filter { line in line.filter(\.isLetter).count >= 3 }
        let errorWords = ["error", "exception", "fatal", "failed", "failure", "permission denied", "not found", "no such", "killed"]
        if let error = wordy.last(where: { line in errorWords.contains { line.lowercased().contains($0) } }) { return error }
        return wordy.last ?? lines.last(where: { !$0.isEmpty })
    }
}
