import LucairCore
import LucairWire

/// Assess: what a chat request is, read from the whole request in one pass, with no I/O.
public struct Assessment: Sendable, Equatable {
    public enum Task: String, Sendable, CaseIterable {
        case summarize, translate, extract, chat, write, code, math, reasoning
        /// Tasks that transform text the request itself provides; small models do these well.
        public var transformsGivenText: Bool { self == .summarize || self == .translate || self == .extract }
    }

    public enum Reasoning: String, Sendable { case low, mid, high }

    public var task: Task
    public var reasoning: Reasoning
    /// Extended thinking is worth enabling; with the suggested budget in tokens.
    public var thinking: Bool
    public var thinkingBudget: Int?
    public var expectedOutputTokens: Int
    public var promptTokens: Int
    /// `en`, `latin` (accented Latin script) or `other` (mostly non-Latin script).
    public var language: String
    public var turns: Int
    /// The learned "needs a stronger model" score z (higher = stronger), as `lucair router score` writes it.
    public var score: Double
    /// Calibrated P(the Baseline tier is good enough), before the task prior.
    public var pWeakOK: Double
    /// P(tier good enough), in ladder order, after the task prior.
    public var tierProbabilities: [Double]
    /// Whether earlier assistant turns carry extended-thinking blocks (signed, model-bound).
    public var carriesThinking: Bool
    public var hasTools: Bool

    public func probability(_ t: Tier) -> Double { tierProbabilities[t.rank] }
}

/// Computes an `Assessment` from a request with the learned model plus a few documented rules
/// (docs/router.md): the learned part ranks, the rules name the task and its shape.
public struct Assessor: Sendable {
    public let model: RouterModel

    public init(model: RouterModel) { self.model = model }

    /// The share of the Baseline tier's risk left for tasks that transform a given text.
    public static let transformPrior = 0.2

    /// The score alone (what `lucair router score` writes): messages only, nothing else read.
    public func score(messages: [JSONValue]) -> Double {
        model.score(Features.extract(messages, lexicons: model.lexicons))
    }

    public func assess(_ r: ChatRequest) -> Assessment {
        let f = Features.extract(r.messages, lexicons: model.lexicons)
        let z = model.score(f)
        let pWeak = model.pWeakOK(z)
        let lastUser = Self.lastUserText(r.messages)
        let task = Self.task(f, lastUser: lastUser, request: r)
        // Task prior: the training data (MMLU, AlpacaEval) holds no grounded transformations of a
        // given text; for those, 80% of the remaining risk is assumed away (docs/router.md).
        let p = task.transformsGivenText ? 1 - (1 - pWeak) * Self.transformPrior : pWeak
        // High: the client asks for it, or reasoning work beyond the calibration's last step (the
        // score range where the Baseline tier almost never suffices).
        let reasoningWork = task == .math || task == .code || task == .reasoning
        let reasoning: Assessment.Reasoning
        switch (p, r.reasoningEffort) {
        case (_, "high"?), (_, "xhigh"?): reasoning = .high
        case (let p, _) where p < 0.05 && reasoningWork: reasoning = .high
        case (_, "medium"?): reasoning = .mid
        case (let p, _) where p < 0.55: reasoning = .mid
        default: reasoning = .low
        }
        let thinking = reasoning == .high || r.body["thinking"]?["type"]?.stringValue == "enabled"
        let promptTokens = TokenEstimator.promptTokens(r)
        let carriesThinking = r.messages.contains { !($0["thinking_blocks"]?.arrayValue?.isEmpty ?? true) }
        return Assessment(
            task: task, reasoning: reasoning, thinking: thinking,
            thinkingBudget: thinking ? (reasoning == .high ? 8192 : 2048) : nil,
            expectedOutputTokens: Self.expectedOutput(task, request: r, promptTokens: promptTokens, thinking: thinking),
            promptTokens: promptTokens, language: Self.language(f), turns: r.messages.count,
            score: z, pWeakOK: pWeak, tierProbabilities: Tier.allCases.map { model.pTierOK(p, $0) },
            carriesThinking: carriesThinking, hasTools: !r.tools.isEmpty)
    }

    // MARK: rules

    static func lastUserText(_ messages: [JSONValue]) -> [UInt8] {
        guard let m = messages.last(where: { $0["role"]?.stringValue == "user" }) else { return [] }
        var b: [UInt8] = []
        Features.appendText(of: m, to: &b)
        return b
    }

    /// Instruction words, lower-case, matched as whole words at the start of the last user turn
    /// (English and the languages of our first tenants).
    static let summarizeWords: Set<String> = ["summarize", "summarise", "summary", "tldr", "résume", "résumé", "résumez", "resumen", "resumir", "zusammenfassung", "zusammenfassen", "riassumi", "condense", "recap"]
    static let translateWords: Set<String> = ["translate", "translation", "traduis", "traduire", "traduisez", "traduce", "traducir", "übersetze", "übersetzen", "traduci", "tradução", "traduza"]
    static let extractWords: Set<String> = ["extract", "classify", "categorize", "categorise", "label", "tag", "parse", "identify", "detect", "sentiment", "extraire", "classer", "extrae"]

    static func task(_ f: Features, lastUser: [UInt8], request r: ChatRequest) -> Assessment.Task {
        // The instruction sits at the start or the end of the turn ("Summarize this: …", "… Translate the above.").
        let head = Self.words(lastUser.prefix(1024), limit: 40)
        // A turn of up to 1,024 bytes is its own suffix: the same words, not worth a second pass.
        let words = lastUser.count <= 1024 ? head : head + Self.words(lastUser.suffix(1024), limit: 40)
        func has(_ set: Set<String>) -> Bool { words.contains { set.contains($0) } }
        if has(translateWords) { return .translate }
        if has(summarizeWords) { return .summarize }
        if case .jsonSchema = r.responseFormat { return .extract }
        if r.responseFormat == .jsonObject || has(extractWords) { return .extract }
        let nt = Double(max(1, f.tokens))
        let lex = f.lexiconCounts  // math, code, reasoning, writing, roleplay, extraction, constraints, knowledge
        if f.dense[9] > 0 || Double(lex[1]) / nt > 0.08 && lex[1] >= 2 { return .code }
        let mathCues = Double(lex[0]) + f.dense[6] * 2 + f.dense[7] + f.dense[8]
        if mathCues / nt > 0.12 || f.dense[8] >= 1.5 { return .math }
        if Double(lex[2]) / nt > 0.06 && lex[2] >= 2 { return .reasoning }
        if lex[3] >= 1 && Double(lex[3]) / nt > 0.02 { return .write }
        return .chat
    }

    /// The first `limit` lower-cased ASCII/UTF-8 words of the text.
    static func words(_ b: ArraySlice<UInt8>, limit: Int) -> [String] {
        var out: [String] = []
        var cur: [UInt8] = []
        var ascii = true
        func end() {
            let w = String(decoding: cur, as: UTF8.self)
            out.append(ascii ? w : w.lowercased())  // ASCII is lower-cased already, byte by byte
            cur.removeAll(keepingCapacity: true)
            ascii = true
        }
        for c in b {
            if Features.isWordByte(c) {
                cur.append(FNV.lower(c))
                if c >= 0x80 { ascii = false }
            } else if !cur.isEmpty {
                end()
                if out.count == limit { return out }
            }
        }
        if !cur.isEmpty { end() }
        return out
    }

    static func language(_ f: Features) -> String {
        let nonASCII = f.dense[11]
        return nonASCII >= 0.3 ? "other" : nonASCII > 0.002 ? "latin" : "en"
    }

    static func expectedOutput(_ task: Assessment.Task, request r: ChatRequest, promptTokens: Int, thinking: Bool) -> Int {
        let typical: Int
        switch task {
        case .summarize: typical = min(600, max(60, promptTokens / 6))
        case .translate: typical = min(4000, max(40, promptTokens))
        case .extract: typical = 150
        case .chat: typical = 300
        case .write: typical = 700
        case .code: typical = 600
        case .math: typical = 400
        case .reasoning: typical = 500
        }
        return min(typical, r.maxTokens ?? Int.max)
    }
}
