#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// Gives memory freed after a burst back to the operating system every `interval`. glibc's malloc
/// keeps freed pages in its arenas, so without this a process's RSS stays at its high-water mark
/// after any backlog and a soak cannot tell a burst from a leak. Nothing in the listed packages
/// does this; `malloc_trim` is glibc's own call. A no-op where glibc is absent.
struct MemoryTrimmer: Service {
    var interval: Duration = .seconds(30)

    /// `malloc_trim` is declared in <malloc.h>, which the Glibc module does not export: looked up once.
    #if canImport(Glibc)
    typealias Trim = @convention(c) (Int) -> Int32
    static let trim: Trim? = dlsym(nil, "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }
    #endif

    /// The sleep is cancelled by a graceful shutdown: otherwise SIGTERM waits out the interval.
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                #if canImport(Glibc)
                _ = Self.trim?(0)
                #endif
            }
        }
    }
}
