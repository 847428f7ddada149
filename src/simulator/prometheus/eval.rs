//! PromQL evaluation: series streamed through the expression tree, step by step.

use std::borrow::Cow;
use std::collections::HashMap;

use super::http::ApiError;
use super::promql::{AggOp, Aggregate, BinOp, Expr, Func, Kind, Selector};
use super::series::{Index, LabelSet, NAME, SeriesRef};
use super::values::{At, WindowAt};

/// The labels of a series flowing through evaluation: a source series (materialised only
/// when needed) or an explicit set.
pub(super) enum Labels<'t> {
    Series { r: SeriesRef, keep_name: bool },
    Set(LabelSet<'t>),
}

impl<'t> Labels<'t> {
    pub(super) fn get(&self, index: &'t Index, name: &str) -> Option<Cow<'t, str>> {
        match self {
            Labels::Series {
                keep_name: false, ..
            } if name == NAME => None,
            Labels::Series { r, .. } => index.label(*r, name),
            Labels::Set(set) => set.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()),
        }
    }

    pub(super) fn into_set(self, index: &'t Index) -> LabelSet<'t> {
        match self {
            Labels::Series { r, keep_name } => index.labels(r, keep_name),
            Labels::Set(set) => set,
        }
    }

    fn without_name(self) -> Self {
        match self {
            Labels::Series { r, .. } => Labels::Series {
                r,
                keep_name: false,
            },
            Labels::Set(mut set) => {
                set.retain(|(n, _)| *n != NAME);
                Labels::Set(set)
            }
        }
    }
}

/// Receives each result series of a subexpression: its labels and one value per step.
type Sink<'s, 't> = dyn FnMut(Labels<'t>, &[Option<f64>]) -> Result<(), ApiError> + 's;

/// The result of a query: a scalar or series with one value per step.
pub(super) enum Outcome<'t> {
    Scalar(f64),
    Series(Vec<(LabelSet<'t>, Vec<Option<f64>>)>),
}

/// Evaluates `expr` at each of `times` (milliseconds).
pub(super) fn evaluate<'t>(
    index: &'t Index,
    expr: &Expr,
    times: &[i64],
) -> Result<Outcome<'t>, ApiError> {
    if expr.kind() == Kind::Scalar {
        return Ok(Outcome::Scalar(expr.scalar()));
    }
    let eval = Eval {
        index,
        steps: times.iter().map(|t| At::new(*t as f64 / 1000.0)).collect(),
    };
    let mut out = Vec::new();
    eval.stream(expr, &mut |labels, values| {
        out.push((labels.into_set(index), values.to_vec()));
        Ok(())
    })?;
    Ok(Outcome::Series(out))
}

/// Streams series through the expression tree; only aggregations and vector-vector
/// operations hold series in memory.
struct Eval<'t> {
    index: &'t Index,
    /// Evaluation times.
    steps: Vec<At>,
}

impl<'t> Eval<'t> {
    fn stream(&self, expr: &Expr, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        match expr {
            Expr::Selector(selector) => self.select(selector, sink),
            Expr::Call {
                func,
                selector,
                window,
            } => self.call(*func, selector, *window, sink),
            Expr::Aggregate(agg) => self.aggregate(agg, sink),
            Expr::Binary(op, lhs, rhs) => match (lhs.kind(), rhs.kind()) {
                (Kind::Vector, Kind::Scalar) => {
                    let b = rhs.scalar();
                    self.map(lhs, &|a| op.apply(a, b), sink)
                }
                (Kind::Scalar, Kind::Vector) => {
                    let a = lhs.scalar();
                    self.map(rhs, &|b| op.apply(a, b), sink)
                }
                (Kind::Vector, Kind::Vector) => self.vector_op(*op, lhs, rhs, sink),
                _ => Err(ApiError::internal(
                    "a scalar expression reached vector evaluation",
                )),
            },
            Expr::Number(_) | Expr::Range(..) => Err(ApiError::internal("not an instant vector")),
        }
    }

    fn select(&self, selector: &Selector, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        let mut values = vec![None; self.steps.len()];
        self.index.select(selector, |r| {
            let sampler = self.index.sampler(r);
            for (v, t) in values.iter_mut().zip(&self.steps) {
                *v = sampler.at(*t);
            }
            emit(sink, Labels::Series { r, keep_name: true }, &values)
        })
    }

    fn call(
        &self,
        func: Func,
        selector: &Selector,
        window: f64,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let windows: Vec<WindowAt> = self
            .steps
            .iter()
            .map(|now| WindowAt::new(*now, window))
            .collect();
        let mut values = vec![None; self.steps.len()];
        self.index.select(selector, |r| {
            let sampler = self.index.sampler(r);
            for (v, w) in values.iter_mut().zip(&windows) {
                *v = sampler.range(func, w);
            }
            emit(
                sink,
                Labels::Series {
                    r,
                    keep_name: false,
                },
                &values,
            )
        })
    }

    /// Applies `f` to every value of a vector; the result loses its metric name.
    fn map(
        &self,
        expr: &Expr,
        f: &dyn Fn(f64) -> f64,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let mut out = vec![None; self.steps.len()];
        self.stream(expr, &mut |labels, values| {
            for (o, v) in out.iter_mut().zip(values) {
                *o = v.map(f);
            }
            sink(labels.without_name(), &out)
        })
    }

    fn aggregate(&self, agg: &Aggregate, sink: &mut Sink<'_, 't>) -> Result<(), ApiError> {
        let n = self.steps.len();
        let mut groups: Vec<(LabelSet<'t>, Vec<Acc>)> = Vec::new();
        let mut lookup: HashMap<LabelSet<'t>, usize> = HashMap::new();
        let mut key = LabelSet::new();
        self.stream(&agg.arg, &mut |labels, values| {
            agg.grouping.key(self.index, labels, &mut key);
            let slot = match lookup.get(key.as_slice()) {
                Some(slot) => *slot,
                None => {
                    lookup.insert(key.clone(), groups.len());
                    groups.push((key.clone(), vec![Acc::EMPTY; n]));
                    groups.len() - 1
                }
            };
            for (acc, v) in groups[slot].1.iter_mut().zip(values) {
                if let Some(v) = v {
                    acc.add(*v);
                }
            }
            Ok(())
        })?;
        let mut out = vec![None; n];
        for (labels, accs) in groups {
            for (o, acc) in out.iter_mut().zip(&accs) {
                *o = acc.result(agg.op);
            }
            emit(sink, Labels::Set(labels), &out)?;
        }
        Ok(())
    }

    /// `lhs op rhs` matching series one-to-one on all labels but `__name__`.
    fn vector_op(
        &self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        sink: &mut Sink<'_, 't>,
    ) -> Result<(), ApiError> {
        let mut right: HashMap<LabelSet<'t>, (Vec<Option<f64>>, bool)> = HashMap::new();
        self.stream(rhs, &mut |labels, values| {
            let key = labels.without_name().into_set(self.index);
            match right.insert(key, (values.to_vec(), false)) {
                Some(_) => Err(duplicate_series("right")),
                None => Ok(()),
            }
        })?;
        let mut out = vec![None; self.steps.len()];
        self.stream(lhs, &mut |labels, values| {
            let key = labels.without_name().into_set(self.index);
            let Some((matched, used)) = right.get_mut(&key) else {
                return Ok(());
            };
            if std::mem::replace(used, true) {
                return Err(duplicate_series("left"));
            }
            for ((o, a), b) in out.iter_mut().zip(values).zip(matched.iter()) {
                *o = a.zip(*b).map(|(a, b)| op.apply(a, b));
            }
            emit(sink, Labels::Set(key), &out)
        })
    }
}

/// Passes a series on unless it has no value at any step.
fn emit<'t>(
    sink: &mut Sink<'_, 't>,
    labels: Labels<'t>,
    values: &[Option<f64>],
) -> Result<(), ApiError> {
    if values.iter().any(Option::is_some) {
        sink(labels, values)
    } else {
        Ok(())
    }
}

fn duplicate_series(side: &str) -> ApiError {
    ApiError::execution(format!(
        "found duplicate series for the match group on the {side} hand-side of the operation; \
         many-to-many matching not allowed: matching labels must be unique on one side"
    ))
}

/// One step of one aggregation group.
#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    count: u32,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        sum: 0.0,
        count: 0,
        min: f64::NAN,
        max: f64::NAN,
    };

    fn add(&mut self, v: f64) {
        if self.count == 0 || v < self.min || self.min.is_nan() {
            self.min = v;
        }
        if self.count == 0 || v > self.max || self.max.is_nan() {
            self.max = v;
        }
        self.sum += v;
        self.count += 1;
    }

    fn result(&self, op: AggOp) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match op {
            AggOp::Sum => self.sum,
            AggOp::Avg => self.sum / f64::from(self.count),
            AggOp::Max => self.max,
            AggOp::Min => self.min,
            AggOp::Count => f64::from(self.count),
        })
    }
}
