package printers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// The printers of ResourceQuotas and LimitRanges, as Kubernetes' printResourceQuota and
// printLimitRange.

var (
	resourceQuotaColumns = cols(nameColumn, ageColumn,
		col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
		col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container can use at runtime."),
	)
	limitRangeColumns = cols(nameColumn, col("Created At", "date", objectMetaDoc["creationTimestamp"]))
)

func init() {
	register(api.ResourceQuotaResource.Name, resourceQuotaColumns, typed(resourceQuotaCells))
	register(api.LimitRangeResource.Name, limitRangeColumns, typed(limitRangeCells))
}

// resourceQuotaCells lists each resource of status.hard as "name: used/hard", limits.* in
// LIMIT and the others in REQUEST.
func resourceQuotaCells(q *api.ResourceQuota, now time.Time) []any {
	var request, limit []string
	names := make([]string, 0, len(q.Status.Hard))
	for k := range q.Status.Hard {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		used := q.Status.Used[k]
		if used == "" {
			used = "0"
		}
		cell := fmt.Sprintf("%s: %s/%s", k, used, q.Status.Hard[k])
		if strings.HasPrefix(k, "limits.") {
			limit = append(limit, cell)
		} else {
			request = append(request, cell)
		}
	}
	return []any{q.Name, age(q.CreationTimestamp.Time, now), strings.Join(request, ", "), strings.Join(limit, ", ")}
}

func limitRangeCells(lr *api.LimitRange, _ time.Time) []any {
	return []any{lr.Name, lr.CreationTimestamp.UTC().Format(time.RFC3339)}
}
