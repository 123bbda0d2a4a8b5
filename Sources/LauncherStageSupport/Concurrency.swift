import Foundation

/// Runs `body` for every element, at most `limit` at once; results keyed by element.
package func forEach<Element: Sendable, Result: Sendable>(
    _ elements: [Element], limit: Int, _ body: @escaping @Sendable (Element) async -> Result
) async -> [(Element, Result)] {
    await withTaskGroup(of: (Int, Result).self) { group in
        var results: [(Int, Result)] = []
        var next = 0
        func add() {
            guard next < elements.count else { return }
            let index = next
            next += 1
            group.addTask { (index, await body(elements[index])) }
        }
        for _ in 0..<limit { add() }
        while let result = await group.next() {
            results.append(result)
            add()
        }
        return results.sorted { $0.0 < $1.0 }.map { (elements[$0.0], $0.1) }
    }
}

/// The outcome of a throwing call, as a value.
package func attempt<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}
