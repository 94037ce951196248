import AsyncHTTPClient
import Foundation
import LucairCore
import Logging
import Synchronization

/// Starts a local engine (llama.cpp, vLLM) as a child process, waits until its health URL answers,
/// and restarts it with exponential backoff when it dies. Its state shows in `/health`.
public final class EngineSupervisor: Sendable {
    public enum State: String, Sendable { case starting, ready, restarting, stopped, failed }

    public let config: EngineConfig
    let client: HTTPClient
    let logger: Logger
    let logPath: String?
    let state = Mutex<(state: State, restarts: Int, pid: Int32)>((.stopped, 0, 0))
    let process = Mutex<Process?>(nil)

    public init(config: EngineConfig, client: HTTPClient, logger: Logger, logPath: String?) {
        self.config = config
        self.client = client
        self.logger = logger
        self.logPath = logPath
    }

    public var snapshot: (state: State, restarts: Int, pid: Int32) { state.withLock { $0 } }

    /// Starts the engine and returns once it is healthy (or throws after the startup timeout).
    public func start() async throws {
        try launch()
        try await waitHealthy()
    }

    /// Watches the process and restarts it until cancelled; stops it on the way out.
    public func supervise() async {
        var backoff: Duration = .seconds(1)
        while !Task.isCancelled {
            let alive = process.withLock { $0?.isRunning ?? false }
            if alive {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            if Task.isCancelled { break }
            let code = process.withLock { $0?.terminationStatus ?? -1 }
            logger.error("engine exited; restarting", metadata: ["engine": "\(config.name)", "exit_code": "\(code)", "backoff": "\(backoff)"])
            state.withLock { $0.state = .restarting; $0.restarts += 1 }
            try? await Task.sleep(for: backoff)
            if Task.isCancelled { break }
            do {
                try launch()
                try await waitHealthy()
                backoff = .seconds(1)
            } catch {
                logger.error("engine restart failed", metadata: ["engine": "\(config.name)", "error": "\(error)"])
                backoff = min(backoff * 2, .seconds(30))
            }
        }
        stop()
    }

    func launch() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = config.command
        var env = ProcessInfo.processInfo.environment
        for (k, v) in config.env { env[k] = v }
        p.environment = env
        if let logPath {
            FileManager.default.createFile(atPath: logPath, contents: nil)
            if let h = FileHandle(forWritingAtPath: logPath) {
                h.seekToEndOfFile()
                p.standardOutput = h
                p.standardError = h
            }
        } else {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        process.withLock { $0 = p }
        state.withLock { $0.state = .starting; $0.pid = p.processIdentifier }
        logger.info("engine started", metadata: ["engine": "\(config.name)", "pid": "\(p.processIdentifier)", "command": "\(config.command.joined(separator: " "))"])
    }

    func waitHealthy() async throws {
        let deadline = ContinuousClock.now + .milliseconds(config.startupTimeoutMs)
        while ContinuousClock.now < deadline {
            if !(process.withLock { $0?.isRunning ?? false }) {
                state.withLock { $0.state = .failed }
                throw EngineError(message: "engine '\(config.name)' exited during start-up; see \(logPath ?? "its output")")
            }
            if await healthy() {
                state.withLock { $0.state = .ready }
                logger.info("engine ready", metadata: ["engine": "\(config.name)"])
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        state.withLock { $0.state = .failed }
        throw EngineError(message: "engine '\(config.name)' was not healthy at \(config.healthURL) within \(config.startupTimeoutMs) ms; see \(logPath ?? "its output")")
    }

    public func healthy() async -> Bool {
        var req = HTTPClientRequest(url: config.healthURL)
        req.method = .GET
        guard let r = try? await client.execute(req, timeout: .seconds(2)) else { return false }
        _ = try? await r.body.collect(upTo: 1 << 16)
        return r.status.code == 200
    }

    public func stop() {
        let p = process.withLock { p -> Process? in
            let out = p
            p = nil
            return out
        }
        state.withLock { $0.state = .stopped }
        guard let p, p.isRunning else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(3)
        while p.isRunning, Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

public struct EngineError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
