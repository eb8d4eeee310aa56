package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/product"
)

// myReport answers GET /v1/users/me/report?days=30: the caller's usage,
// the same figures a maintenance.report job produces.
func (a *API) myReport(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	days := product.DefaultReportDays
	if s := c.Query("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > product.MaxReportDays {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "days: want 1 to 365", nil)
			return
		}
		days = n
	}
	rep, err := a.db.reports.Usage(c.Request.Context(), p.User.ID, days, a.opts.Now())
	if err != nil {
		a.internalError(c, "usage report", err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
