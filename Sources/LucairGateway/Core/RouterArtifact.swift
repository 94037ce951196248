import Foundation
import LucairCore
import LucairRouter
import LucairWire

/// Loads the router's artifact: the configured file, or the one built into this binary.
public enum RouterArtifact {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static var bundledPath: String? { Bundle.module.path(forResource: "router-v1", ofType: "json", inDirectory: "router") }

    /// The built-in artifact, parsed once per process (2.5 MB of JSON).
    static let builtIn = Result { try read(bundledPath) }

    public static func load(path: String? = nil) throws -> RouterModel {
        if let path { return try read(path) }
        return try builtIn.get()
    }

    static func read(_ path: String?) throws -> RouterModel {
        guard let file = path else {
            throw Failure(description: "The router artifact router-v1.json is missing from this build's resources; set [router] model in the config.")
        }
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw Failure(description: "Cannot read the router artifact \(file): \(error.localizedDescription). Check [router] model.")
        }
        do {
            return try RouterModel(json: try JSON.parse(bytes: bytes))
        } catch {
            throw Failure(description: "The router artifact \(file) is invalid: \(error). Retrain it with `python3 router/train.py`.")
        }
    }
}
