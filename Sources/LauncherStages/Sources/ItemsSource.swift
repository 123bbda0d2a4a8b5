import LauncherCore

/// `{"name": "Items", "items": [{…inputs…}, …]}`: a fixed list of inputs given in the request.
///
/// The items go into the source queue in the workload's create transaction; the workload
/// keeps only their count (`itemCount`), so loading it stays cheap however long the list was.
struct ItemsSource: Source {
    let itemCount: Int
    let items: [JSONValue]

    static let type = StageType<any Source>(
        name: "Items",
        summary: "A fixed list of input objects given in the request; one workflow per item.",
        fields: [ConfigField("items", "array of objects", required: true, "The items: one object of inputs each.")]
    ) { reader in
        if reader.origin == .stored {
            return ItemsSource(itemCount: try reader.int("itemCount") ?? 0, items: [])
        }
        guard let items = try reader.array("items") else { throw LauncherError.invalid(reader.path("items"), "required") }
        for (index, item) in items.enumerated() where item.objectValue == nil {
            throw LauncherError.invalid("\(reader.path("items"))[\(index)]", "expected an object of inputs, got \(item.typeName)")
        }
        return ItemsSource(itemCount: items.count, items: items)
    }

    var config: JSONObject { ["name": "Items", "itemCount": .int(Int64(itemCount))] }

    func initialItems() -> [JSONValue] { items }
}
