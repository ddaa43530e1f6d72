/**
 * The order to start services in: each after every service it `dependsOn`, otherwise in the
 * order they are declared (Kahn's topological sort, taking the earliest declared ready service
 * each time, so the order is stable).
 * @param services by name, in declaration order
 * @returns the names, dependencies first
 * @throws Error naming a dependency that is not declared, or the services of a cycle
 */
export function serviceOrder(services: Record<string, { dependsOn?: string[] }>): string[] {
  const names = Object.keys(services);
  for (const [name, s] of Object.entries(services))
    for (const dep of s.dependsOn ?? []) {
      if (!(dep in services))
        throw new Error(
          `service ${name} depends on ${dep}, which is not declared in seed.services (declared: ${names.join(', ') || 'none'})`,
        );
      if (dep === name) throw new Error(`service ${name} depends on itself`);
    }
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < names.length) {
    const next = names.find((n) => !done.has(n) && (services[n]!.dependsOn ?? []).every((d) => done.has(d)));
    if (!next) {
      const left = names.filter((n) => !done.has(n));
      throw new Error(
        `services depend on each other in a cycle: ${left.join(', ')} (each waits for another to start first)`,
      );
    }
    order.push(next);
    done.add(next);
  }
  return order;
}
