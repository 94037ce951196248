import LucairCore

/// What a request's `model` names and which deployments may serve it.
public struct Resolution: Sendable, Equatable {
    public var tier: Tier
    public var model: String
    /// In preference order.
    public var deployments: [Deployment]
    /// Why this tier: `explicit_model`, `tier_alias` or `auto`.
    public var reason: String
}

/// Maps model names (a concrete id or a tier alias) to tiers and deployments, and the tier
/// `AutoRouter` picked for `auto` to the tier that can serve it (`serving`). Pure.
public struct ModelCatalog: Sendable {
    public let deployments: [Deployment]

    public init(deployments: [Deployment]) { self.deployments = deployments }

    /// A concrete model id or a tier alias (`auto` goes through `AutoRouter` and `serving`).
    public func resolve(_ name: String) -> Resolution? {
        if let tier = Tier(alias: name) {
            return resolution(tier: tier, reason: "tier_alias")
        }
        let matching = deployments.filter { $0.model == name }
        guard let first = matching.first else { return nil }
        return Resolution(tier: first.tier, model: name, deployments: matching, reason: "explicit_model")
    }

    /// The tier that serves a routed request: the routed tier if it is configured and allowed;
    /// else the nearest allowed configured tier above it, else the nearest below (`moved` = true).
    public func serving(_ routed: Tier, allowed: (Tier, String) -> Bool) -> (resolution: Resolution, moved: Bool)? {
        let usable = Tier.allCases.filter { t in
            guard let d = deployments.first(where: { $0.tier == t }) else { return false }
            return allowed(t, d.model)
        }
        guard let t = usable.first(where: { $0 >= routed }) ?? usable.last, let r = resolution(tier: t, reason: "auto") else { return nil }
        return (r, t != routed)
    }

    /// Where a request spills when its tier is busy or failing: every configured tier above
    /// `tier` that `allowed` lets the key use, nearest first.
    public func spillTargets(above tier: Tier, allowed: (Tier, String) -> Bool) -> [Resolution] {
        Tier.allCases.filter { $0 > tier }.compactMap { t in
            guard let r = resolution(tier: t, reason: "spill"), allowed(t, r.model) else { return nil }
            return r
        }
    }

    func resolution(tier: Tier, reason: String) -> Resolution? {
        let ds = deployments.filter { $0.tier == tier }
        guard let first = ds.first else { return nil }
        // A tier serves its first deployment's model; others of the tier are its fallbacks.
        return Resolution(tier: tier, model: first.model, deployments: ds, reason: reason)
    }

    /// Every name a client may send: `auto`, the aliases of configured tiers, the concrete models.
    public var modelNames: [(id: String, ownedBy: String)] {
        var out: [(String, String)] = [("auto", "lucair")]
        for t in Tier.allCases where deployments.contains(where: { $0.tier == t }) { out.append((t.alias, "lucair")) }
        var seen = Set<String>()
        for d in deployments where seen.insert(d.model).inserted {
            out.append((d.model, d.kind == .anthropic ? "anthropic" : "lucair-local"))
        }
        return out
    }
}
