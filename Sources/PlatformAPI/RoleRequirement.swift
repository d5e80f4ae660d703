import Hummingbird
import SCD

/// The roles a route admits, checked before its handler runs: 401 without a caller, 403 for a
/// caller of another role. Routes name their roles where they are registered
/// (`api.allowing([.admin]).put(…)`), so the route table reads as the access policy
/// (RouteTableTests holds it against every caller).
package struct RoleRequirement: RouterMiddleware {
    package let roles: Set<Role>

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let caller = context.caller else { throw Problem(.unauthorized, "a bearer token is required") }
        guard roles.contains(caller.role) else { throw Problem(.forbidden, "role \(caller.role.rawValue) may not do this") }
        return try await next(request, context)
    }
}

extension RouterGroup where Context == APIContext {
    /// This group's routes, admitting only callers of `roles`.
    package func allowing(_ roles: Set<Role>) -> RouterGroup<APIContext> {
        group().add(middleware: RoleRequirement(roles: roles))
    }
}
